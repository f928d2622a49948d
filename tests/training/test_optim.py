import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from graco_jax.model import init_params, model_config
from graco_jax.training import optim
from graco_jax.training.defaults import train_fields


def _config(mode="gcl", **overrides):
  config = ml_collections.ConfigDict()
  config.model = model_config("tiny", granularity=True, lora_rank=2, crop_size=64)
  config.model.window_size = 64
  train_fields(config)
  config.optimizer.mode = mode
  config.optimizer.update(overrides)
  return config


@pytest.fixture(scope="module")
def variables():
  # Only shapes matter here: zeros of the real parameter tree, traced but never compiled.
  model = _config().model
  shapes = jax.eval_shape(lambda key: init_params(model, key), jax.random.PRNGKey(0))
  return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def test_gcl_trains_only_lora_and_granularity_embedding(variables):
  paths = optim.trainable_paths(variables, _config().optimizer)
  assert paths and all("/lora/" in p or p.startswith("backbone/gra_embed") for p in paths)
  assert "backbone/gra_embed/embedding" in paths
  assert len(paths) == 2 * 4 + 1  # lora_a, lora_b per block (depth 4) + the embedding


def test_full_mode_respects_the_freeze_list(variables):
  config = _config("full", freeze=("patch_embed", "neck"))
  paths = optim.trainable_paths(variables, config.optimizer)
  flat = optim.flatten(variables)
  assert not any("patch_embed" in p or p.startswith("neck/") for p in paths)
  assert len(paths) == sum(1 for p in flat if "patch_embed" not in p and "neck/" not in p)


def test_layer_decay_scales_and_weight_decay_mask():
  config = _config("full", layer_decay=0.75, weight_decay=0.02).optimizer
  depth = 4
  assert optim.param_group("backbone/pos_embed", jnp.zeros((1, 4, 8)), config, depth) == (
      0.75 ** 5, 0.0)
  assert optim.param_group("backbone/blocks_1/mlp/fc1/kernel", jnp.zeros((8, 8)), config,
                           depth) == (0.75 ** 3, 0.02)
  assert optim.param_group("backbone/blocks_1/mlp/fc1/bias", jnp.zeros((8,)), config,
                           depth) == (0.75 ** 3, 0.0)
  assert optim.param_group("backbone/click_embed/proj/kernel", jnp.zeros((2, 2, 3, 8)), config,
                           depth)[0] == 0.75 ** 5
  # Official: the neck and head keep scale 1 and decay every parameter, 1-D included.
  assert optim.param_group("head/conv_seg/bias", jnp.zeros((1,)), config, depth) == (1.0, 0.02)


def test_multistep_schedule_is_the_official_epoch_milestones():
  config = _config().optimizer
  schedule = optim.learning_rate_schedule(config, steps_per_epoch=10, total_steps=550)
  assert float(schedule(499)) == pytest.approx(5e-5)
  assert float(schedule(500)) == pytest.approx(5e-6)
  cosine = optim.learning_rate_schedule(
      _config(schedule="cosine", warmup_epochs=1.0).optimizer, 10, 100)
  assert float(cosine(0)) == 0.0 and float(cosine(10)) == pytest.approx(5e-5)
  assert float(cosine(100)) == pytest.approx(0.0, abs=1e-12)


def test_optimizer_state_holds_only_trainable_leaves_and_lr_scales_apply(variables):
  config = _config("full", layer_decay=0.5, learning_rate=1.0, schedule="constant")
  tx, paths, _ = optim.make_optimizer(variables, config.optimizer, depth=4, steps_per_epoch=1,
                                      total_steps=1)
  flat = optim.flatten(variables)
  trainable = {p: flat[p] for p in paths}
  state = tx.init(trainable)
  adam_leaves = sum(x.size for x in jax.tree.leaves(state) if x.ndim > 0)
  assert adam_leaves == 2 * sum(v.size for v in trainable.values())  # mu and nu, nothing else
  grads = jax.tree.map(jnp.ones_like, trainable)
  updates, _ = jax.jit(tx.update)(grads, state, trainable)
  # Adam's first step is -lr * sign(g): the magnitude is the group's learning-rate scale.
  np.testing.assert_allclose(np.abs(updates["backbone/blocks_0/mlp/fc1/kernel"]), 0.5 ** 4,
                             rtol=1e-4)
  np.testing.assert_allclose(np.abs(updates["head/conv_seg/kernel"]), 1.0, rtol=1e-4)
  gcl_tx, gcl_paths, _ = optim.make_optimizer(variables, _config().optimizer, 4, 1, 1)
  gcl_state = gcl_tx.init({p: flat[p] for p in gcl_paths})
  assert sum(x.size for x in jax.tree.leaves(gcl_state) if x.ndim > 0) == 2 * sum(
      flat[p].size for p in gcl_paths)
  assert isinstance(gcl_tx, optax.GradientTransformation)
