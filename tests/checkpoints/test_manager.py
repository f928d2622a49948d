"""Our orbax checkpoints: save/restore, latest step, retention, atomicity, other device counts."""

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from graco_jax.checkpoints import (checkpoint_manager, latest_step, load_for_inference,
                                   read_model_config, restore_params, save_params,
                                   write_model_config)
from graco_jax.model import model_config


def _variables(seed=0):
  rng = np.random.default_rng(seed)
  return {"params": {"dense": {"kernel": rng.normal(size=(16, 8)).astype(np.float32),
                               "bias": rng.normal(size=(8,)).astype(np.float32)},
                     "pos_embed": rng.normal(size=(1, 64, 8)).astype(np.float32)}}


def _assert_equal_trees(a, b):
  assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_model_config_round_trip_keeps_tuples(tmp_path):
  config = model_config("tiny", crop_size=224)
  write_model_config(str(tmp_path), config)
  again = read_model_config(str(tmp_path))
  assert again == config
  assert isinstance(again.crop_size, tuple) and isinstance(again.lora.targets, tuple)
  with pytest.raises(FileNotFoundError, match="elsewhere.*model_config.json"):
    read_model_config(str(tmp_path / "elsewhere"))


def test_save_params_and_load_for_inference(tmp_path):
  config = model_config("tiny", crop_size=224)
  save_params(str(tmp_path), config, _variables(1), step=7)
  assert latest_step(str(tmp_path)) == 7
  config2, restored = load_for_inference(str(tmp_path))
  assert config2 == config
  _assert_equal_trees(restored, _variables(1))
  assert isinstance(jax.tree_util.tree_leaves(restored)[0], jax.Array)


def test_training_items_retention_and_step_choice(tmp_path):
  workdir = str(tmp_path)
  with checkpoint_manager(workdir, max_to_keep=2, enable_async=True) as manager:
    for step in (10, 20, 30):
      state = {"step": np.asarray(step, np.int32), "opt": {"mu": np.full((3,), step, np.float32)}}
      manager.save(step, args=ocp.args.Composite(
          params=ocp.args.StandardSave(_variables(step)),
          state=ocp.args.StandardSave(state)))
    manager.wait_until_finished()
    assert list(manager.all_steps()) == [20, 30]
    restored = manager.restore(20, args=ocp.args.Composite(
        state=ocp.args.StandardRestore({"step": np.asarray(0, np.int32),
                                        "opt": {"mu": np.zeros(3, np.float32)}})))
    assert int(restored["state"]["step"]) == 20
  assert latest_step(workdir) == 30
  _assert_equal_trees(restore_params(workdir), _variables(30))
  _assert_equal_trees(restore_params(workdir, step=20), _variables(20))
  with pytest.raises(FileNotFoundError, match="no step 10"):
    restore_params(workdir, step=10)


def test_interrupted_save_is_invisible(tmp_path):
  workdir = str(tmp_path)
  save_params(workdir, model_config("tiny"), _variables(0), step=1)
  # what a crash mid-save leaves behind: an uncommitted temporary step folder
  os.makedirs(os.path.join(workdir, "checkpoints", "2.orbax-checkpoint-tmp-1234", "params"))
  assert latest_step(workdir) == 1
  _assert_equal_trees(restore_params(workdir), _variables(0))


def test_missing_checkpoint_names_the_directory(tmp_path):
  with pytest.raises(FileNotFoundError, match=str(tmp_path / "none")):
    restore_params(str(tmp_path / "none"))


_SAVE_SHARDED = """
import jax, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from graco_jax.checkpoints import save_params, restore_params
from graco_jax.model import model_config
assert jax.device_count() == 8
mesh = Mesh(np.array(jax.devices()), ("data",))
rng = np.random.default_rng(3)
variables = {"params": {"dense": {"kernel": rng.normal(size=(16, 8)).astype(np.float32),
                                  "bias": rng.normal(size=(8,)).astype(np.float32)},
                        "pos_embed": rng.normal(size=(1, 64, 8)).astype(np.float32)}}
mode = "MODE"
if mode == "save":
  sharded = jax.tree_util.tree_map(
      lambda x: jax.device_put(x, NamedSharding(mesh, P(*([None] * (x.ndim - 1)), "data"))),
      variables)
  save_params("WORKDIR", model_config("tiny"), sharded, step=5)
else:
  target = jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(
          x.shape, x.dtype, sharding=NamedSharding(mesh, P(*([None] * (x.ndim - 1)), "data"))),
      variables)
  restored = restore_params("WORKDIR", target=target)
  for a, b in zip(jax.tree_util.tree_leaves(restored), jax.tree_util.tree_leaves(variables)):
    assert len(a.sharding.device_set) == 8
    np.testing.assert_array_equal(np.asarray(a), b)
  print("restored on 8 devices")
"""


def _run_on_8_devices(mode, workdir):
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
             JAX_PLATFORMS="cpu")
  code = textwrap.dedent(_SAVE_SHARDED).replace("MODE", mode).replace("WORKDIR", workdir)
  result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  return result.stdout


def test_saved_on_8_devices_restores_on_1(tmp_path):
  _run_on_8_devices("save", str(tmp_path))
  _, restored = load_for_inference(str(tmp_path))
  _assert_equal_trees(restored, _variables(3))
  assert all(len(x.sharding.device_set) == 1 for x in jax.tree_util.tree_leaves(restored))


def test_saved_on_1_device_restores_sharded_on_8(tmp_path):
  save_params(str(tmp_path), model_config("tiny"), _variables(3), step=5)
  assert "restored on 8 devices" in _run_on_8_devices("restore", str(tmp_path))
