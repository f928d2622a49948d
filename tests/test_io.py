"""graco_jax.io: atomic local writes, and the whole pipeline on a `gs://` workdir.

The `gs://` filesystem is a stand-in for GCS that needs no network: fsspec's `gcs` protocol
(what etils.epath uses for `gs://` when gcsfs is installed) is registered to a local folder,
orbax's tensorstore GCS driver is pointed at the same folder, and orbax's two calls into the
google-cloud-storage client (bucket layout, recursive delete) are answered locally. Everything above those two
clients runs as on GCS: the same `epath.Path('gs://...')` objects through epath's fsspec
backend, orbax's GCS branches (commit-file finalisation of a step instead of a rename, its GCS
kvstore spec), our object-store branches (single-put writes, rewritten metrics.csv) and the
tensorboardX writer factory for `gs://`.
"""

import json
import os
import stat
import sys

import jax
import numpy as np
import pytest
from etils.epath import backend as epath_backend
from fsspec.implementations.local import LocalFileSystem
from orbax.checkpoint._src.path import gcs_utils

from graco_jax import checkpoints, cli, io
from graco_jax.data import proposal_store as store
from graco_jax.data import image_io
from graco_jax.model import init_params, model_config


class _LocalGCS(LocalFileSystem):
  """`gs://bucket/key` <-> ROOT/bucket/key; paths it returns are `bucket/key` like gcsfs's."""

  protocol = ("gs", "gcs")
  root = ""

  def __init__(self, *args, finalize_on_close=None, **kwargs):
    del args, finalize_on_close, kwargs
    super().__init__(auto_mkdir=True)

  @classmethod
  def _strip_protocol(cls, path):
    path = str(path)
    if path.startswith(cls.root):
      return path.rstrip("/") or cls.root
    for prefix in ("gs://", "gcs://"):
      path = path.removeprefix(prefix)
    return os.path.join(cls.root, path.lstrip("/")).rstrip("/")

  def glob(self, path, **kwargs):
    return [p[len(self.root) + 1:] for p in super().glob(path, **kwargs)]


@pytest.fixture
def gcs(tmp_path, monkeypatch):
  root = str(tmp_path / "gcs")
  os.makedirs(os.path.join(root, "bucket"))
  monkeypatch.setattr(_LocalGCS, "root", root)
  _LocalGCS.clear_instance_cache()
  registry = sys.modules["fsspec.registry"]._registry  # fsspec.registry is a read-only view
  for name in ("gs", "gcs"):
    monkeypatch.setitem(registry, name, _LocalGCS)
  epath_backend.fsspec_backend._get_filesystem.cache_clear()
  monkeypatch.setattr(gcs_utils, "get_kvstore_for_gcs", lambda path: {
      "driver": "file", "path": os.path.join(root, path.removeprefix("gs://"))})
  monkeypatch.setattr(gcs_utils, "is_hierarchical_namespace_enabled", lambda path: False)
  monkeypatch.setattr(gcs_utils, "rmtree", lambda path, missing_ok=False: LocalFileSystem().rm(
      os.path.join(root, str(path).removeprefix("gs://")), recursive=True))
  yield root
  epath_backend.fsspec_backend._get_filesystem.cache_clear()


def test_local_atomic_write_leaves_no_temporary_file_and_ordinary_permissions(tmp_path):
  path = str(tmp_path / "sub" / "a.json")
  io.atomic_write_text(path, "one")
  io.atomic_write_text(path, "two")
  assert io.read_text(path) == "two" and os.listdir(tmp_path / "sub") == ["a.json"]
  umask = os.umask(0)
  os.umask(umask)
  assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask
  io.append_text(str(tmp_path / "log.csv"), "a\n")
  io.append_text(str(tmp_path / "log.csv"), "b\n")
  assert (tmp_path / "log.csv").read_text() == "a\nb\n"


def test_uri_paths_reach_the_object_store(gcs):
  io.atomic_write_text("gs://bucket/run/x/a.txt", "hello")
  io.append_text("gs://bucket/run/log.csv", "1\n")
  io.append_text("gs://bucket/run/log.csv", "2\n")
  assert open(os.path.join(gcs, "bucket/run/x/a.txt")).read() == "hello"
  assert io.read_text("gs://bucket/run/log.csv") == "1\n2\n"
  assert io.exists("gs://bucket/run/x/a.txt") and io.isdir("gs://bucket/run/x")
  assert io.listdir("gs://bucket/run") == ["log.csv", "x"]
  assert io.glob("gs://bucket/run/x", "*.txt") == ["gs://bucket/run/x/a.txt"]
  assert io.join("gs://bucket/run", "x") == "gs://bucket/run/x"
  assert io.abspath("gs://bucket/run") == "gs://bucket/run"


def _grabcut(root):
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[:40, :48]
  for i in range(3):
    mask = ((yy - 20) ** 2 + (xx - 18 - 4 * i) ** 2 < 100).astype(np.uint8) * 255
    image_io.write_png(f"{root}/data_GT/im{i}.png", rng.integers(0, 255, (40, 48, 3)))
    image_io.write_png(f"{root}/boundary_GT/im{i}.png", mask)


def test_train_generate_evaluate_and_import_on_a_gs_workdir(gcs, capsys):
  configs = os.path.join(os.path.dirname(__file__), "..", "configs")
  run = "gs://bucket/run"
  assert cli.main([
      "train", "--config", os.path.join(configs, "simpleclick.py") + ":size=tiny,data=cpu", "--workdir", run,
      "--config.model.depth=1", "--config.model.crop_size=(64, 64)",
      "--config.model.window_size=64", "--config.data.image_size=(64, 64)",
      "--config.data.num_images=8", "--config.train.batch_size=2",
      "--config.train.num_steps=2", "--config.train.checkpoint_every=1",
      "--config.train.log_every=1", "--config.train.progress=False",
      "--config.train.image_every=2", "--config.train.num_images=1"]) == 0
  local_run = os.path.join(gcs, "bucket", "run")
  assert sorted(os.listdir(os.path.join(local_run, "checkpoints"))) == ["1", "2"]
  assert checkpoints.latest_step(run) == 2
  rows = io.read_text(f"{run}/metrics.csv").splitlines()
  assert rows[0].startswith("step,") and [r.split(",")[0] for r in rows[1:]] == ["1", "2"]
  events = os.listdir(os.path.join(local_run, "tb"))
  assert len(events) == 1 and os.path.getsize(os.path.join(local_run, "tb", events[0])) > 100
  assert json.loads(io.read_text(f"{run}/model_config.json"))["depth"] == 1
  capsys.readouterr()

  out = "gs://bucket/store"
  assert cli.main([
      "generate", "--config", os.path.join(configs, "agg_synthetic.py"), "--checkpoint", run,
      "--out", out, "--no-progress", "--config.data.num_images=2",
      "--config.data.image_size=(64, 64)", "--config.agg.batch_size=4",
      "--config.agg.max_iters=3"]) == 0
  summary = json.loads(capsys.readouterr().out)
  assert summary["num_proposals"] == len(store.read_proposals(out)) > 0
  assert os.path.exists(os.path.join(gcs, "bucket", "store", "gallery.png"))
  assert store.chunk_files(out)[0].startswith("gs://bucket/store/chunk-h0000-b")

  _grabcut("gs://bucket/grabcut")
  assert cli.main([
      "evaluate", "--config", os.path.join(configs, "eval_quick.py"), "--checkpoint", run,
      "--workdir", "gs://bucket/eval", "--config.eval.paths.GrabCut=gs://bucket/grabcut",
      "--config.eval.target_size=64", "--config.eval.min_crop_size=16",
      "--config.eval.max_clicks=2", "--config.eval.with_flip=False",
      "--config.eval.bucket_multiple=48"]) == 0
  results = json.loads(io.read_text("gs://bucket/eval/results.json"))
  assert results["datasets"]["GrabCut"]["num_instances"] == 3
  assert sorted(os.listdir(os.path.join(gcs, "bucket", "eval"))) == [
      "instances_GrabCut.npz", "iou_vs_clicks.png", "results.json", "results.md"]

  official = model_config("tiny", granularity=False, lora_rank=0, crop_size=224)
  official.depth = 1  # the official code knows 224-pixel windows only
  variables = jax.device_get(init_params(official, jax.random.PRNGKey(0)))
  checkpoints.export_official(official, variables, "gs://bucket/official.pth")
  assert cli.main(["import", "--checkpoint", "gs://bucket/official.pth",
                   "--out", "gs://bucket/imported"]) == 0
  imported = checkpoints.restore_params("gs://bucket/imported")
  assert jax.tree.structure(imported) == jax.tree.structure(variables)
  for a, b in zip(jax.tree.leaves(imported), jax.tree.leaves(variables)):
    np.testing.assert_array_equal(a, b)
