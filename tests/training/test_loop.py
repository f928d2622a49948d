"""End-to-end training on generated ellipses: learning, resume after preemption, NaN stop."""

import csv
import json
import os
import signal

import jax
import ml_collections
import numpy as np
import pytest

from graco_jax import checkpoints
from graco_jax.data import pipeline, registry
from graco_jax.model import model_config
from graco_jax.training import loop
from graco_jax.training.defaults import train_fields


class Ellipses:
  """One bright ellipse (the object) and a dark one (another object) per 64x64 image."""

  def __init__(self, n=64, on_fetch=None):
    self.n, self.on_fetch = n, on_fetch

  def __len__(self):
    return self.n

  def __getitem__(self, i):
    if self.on_fetch is not None:
      self.on_fetch(i)
    rng = np.random.default_rng(int(i))
    yy, xx = np.mgrid[:64, :64]
    image = rng.integers(60, 120, (64, 64, 3)).astype(np.uint8)
    instances = np.zeros((64, 64), np.int32)
    for k, colour in ((1, 230), (2, 10)):
      cy, cx = rng.uniform(16, 48, 2)
      ry, rx = rng.uniform(6, 14, 2)
      inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
      image[inside] = colour
      instances[inside] = k
    return {"image": image, "mask": (instances == 1).astype(np.int8), "instances": instances,
            "image_id": str(i), "object_id": -1, "granularity": np.float32(1.0)}


def tiny_config(num_steps, **train):
  config = ml_collections.ConfigDict()
  config.model = model_config("tiny", granularity=False, lora_rank=0, crop_size=64)
  config.model.window_size = 64
  config.model.depth = 2
  train_fields(config)
  config.train.compute_dtype = "float32"
  config.data.source = "ellipses"
  config.data.augment.scale_range = (0.9, 1.1)
  config.data.augment.photometric = False  # cheaper host side; tests/data covers the recipe
  config.data.sampler.min_object_area = 20
  config.data.num_threads = 2
  config.data.prefetch = 2
  config.optimizer.mode = "full"
  config.optimizer.schedule = "constant"
  config.optimizer.learning_rate = 1e-3
  config.train.update({"batch_size": 8, "num_steps": num_steps, "max_num_points": 4,
                       "loss": "bce",
                       "log_every": 10, "checkpoint_every": 1000, "progress": False,
                       "async_checkpoints": False, **train})
  return config


@pytest.fixture
def ellipses(monkeypatch):
  hooks = {}
  monkeypatch.setitem(registry.TRAIN_SOURCES, "ellipses",
                      lambda c: Ellipses(on_fetch=hooks.get("on_fetch")))
  return hooks


def _rows(workdir):
  with open(os.path.join(workdir, "metrics.csv"), encoding="utf-8") as f:
    return list(csv.DictReader(f))


def test_tiny_training_lowers_loss_and_raises_iou(ellipses, tmp_path):
  # BCE: the normalized focal loss rescales itself per instance, so its value hardly moves.
  result = loop.train(tiny_config(100), str(tmp_path))
  rows = _rows(str(tmp_path))
  first, last = rows[0], rows[-1]
  assert result["step"] == 100 and len(rows) == 10
  assert float(last["loss"]) < 0.7 * float(first["loss"])
  assert float(last["iou"]) > float(first["iou"]) + 0.25
  assert float(last["samples_per_s"]) > 0
  assert os.listdir(os.path.join(str(tmp_path), "tb"))


def test_preempted_run_resumes_to_bit_identical_parameters(ellipses, tmp_path):
  steps = 8
  reference = loop.train(tiny_config(steps), str(tmp_path / "straight"))

  fetched = []

  def preempt(i):  # SIGTERM once, while the first batches are read
    fetched.append(i)
    if len(fetched) == 20:
      os.kill(os.getpid(), signal.SIGTERM)

  ellipses["on_fetch"] = preempt
  workdir = str(tmp_path / "interrupted")
  first = loop.train(tiny_config(steps), workdir)
  assert first["preempted"] and 0 < first["step"] < steps
  assert checkpoints.latest_step(workdir) == first["step"]
  ellipses["on_fetch"] = None
  resumed = loop.train(tiny_config(steps), workdir)
  assert resumed["step"] == steps and not resumed["preempted"]
  for a, b in zip(jax.tree.leaves(reference["params"]), jax.tree.leaves(resumed["params"])):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _granularities(count):
  """The granularities of fake batch `count` (1-based): spread over the 0.1 bins."""
  return ((np.arange(8) + 3 * count) % 10 / 10 + 0.05).astype(np.float32)


class _NaNAtStep:
  """Stands in for the grain dataset: float batches, NaN image at batch `bad` (1-based)."""

  def __init__(self, bad, capacity):
    self.bad, self.capacity, self.count = bad, capacity, 0

  def __iter__(self):
    return self

  def __next__(self):
    self.count += 1
    image = np.full((8, 64, 64, 3), 0.5, np.float32)
    if self.count == self.bad:
      image[3, 10, 10, 1] = np.nan
    mask = np.zeros((8, 64, 64), np.int8)
    mask[:, 20:40, 20:40] = 1
    valid = np.zeros((8, self.capacity), bool)
    valid[:, 0] = True
    coords = np.full((8, self.capacity, 2), 30, np.int32)
    return {"image": image, "mask": mask, "coords": coords, "is_positive": valid.copy(),
            "valid": valid, "granularity": _granularities(self.count)}

  def get_state(self):  # bytes, as grain's checkpoint handler wants from a non-dataset iterator
    return json.dumps({"count": self.count}).encode()

  def set_state(self, state):
    self.count = json.loads(state)["count"]


def test_nan_image_stops_with_the_step_and_keeps_the_last_good_checkpoint(
    ellipses, tmp_path, monkeypatch):
  config = tiny_config(10, checkpoint_every=1)
  monkeypatch.setattr(pipeline, "make_train_dataset",
                      lambda *a, **k: _NaNAtStep(3, pipeline.click_capacity(config.train)))
  with pytest.raises(loop.NonFiniteLossError, match="at step 3"):
    loop.train(config, str(tmp_path))
  assert checkpoints.latest_step(str(tmp_path)) == 2


def test_init_from_reads_official_and_mae_pth_files(tmp_path):
  config = tiny_config(1)
  config.model.crop_size, config.model.window_size = (224, 224), 224  # the official window
  source = jax.tree.map(np.asarray, loop.init_params(config.model, jax.random.PRNGKey(5)))
  official = str(tmp_path / "simpleclick_tiny.pth")
  checkpoints.export_official(config.model, source, official)
  config.train.init_from = official
  loaded = loop.load_initial_variables(config, jax.random.PRNGKey(0))
  jax.tree.map(np.testing.assert_array_equal, jax.tree.map(np.asarray, loaded), source)

  # An MAE file ({'model': backbone state dict}) replaces the backbone and nothing else.
  state_dict = checkpoints.load_pth(official)["state_dict"]
  mae = {k[len("backbone."):]: v for k, v in state_dict.items() if k.startswith("backbone.")}
  mae_path = str(tmp_path / "mae_tiny.pth")
  checkpoints.save_pth(mae_path, {"model": mae})
  config.train.init_from = mae_path
  loaded = loop.load_initial_variables(config, jax.random.PRNGKey(0))
  fresh = loop.init_params(config.model, jax.random.PRNGKey(0))["params"]
  np.testing.assert_array_equal(loaded["params"]["backbone"]["blocks_1"]["mlp"]["fc1"]["kernel"],
                                source["params"]["backbone"]["blocks_1"]["mlp"]["fc1"]["kernel"])
  np.testing.assert_array_equal(loaded["params"]["head"]["conv_seg"]["kernel"],
                                fresh["head"]["conv_seg"]["kernel"])
  np.testing.assert_array_equal(loaded["params"]["backbone"]["click_embed"]["proj"]["kernel"],
                                fresh["backbone"]["click_embed"]["proj"]["kernel"])


def test_tensorboard_holds_the_logged_scalars_granularities_and_prediction_images(
    ellipses, tmp_path, monkeypatch):
  from tensorboard.backend.event_processing import event_accumulator
  config = tiny_config(10, log_every=5, image_every=4, num_images=3)
  config.optimizer.schedule = "cosine"  # a learning rate that moves
  monkeypatch.setattr(pipeline, "make_train_dataset",
                      lambda *a, **k: _NaNAtStep(0, pipeline.click_capacity(config.train)))
  result = loop.train(config, str(tmp_path))
  events = event_accumulator.EventAccumulator(
      str(tmp_path / "tb"), size_guidance={"scalars": 0, "images": 0, "histograms": 0})
  events.Reload()
  logged = {}
  for row in _rows(str(tmp_path)):
    for key, value in row.items():
      if key != "step":
        logged.setdefault(f"train/{key}", []).append((int(row["step"]), float(value)))
  assert "train/learning_rate" in logged and set(logged) <= set(events.Tags()["scalars"])
  for tag, rows in logged.items():
    scalars = events.Scalars(tag)
    assert [e.step for e in scalars] == [5, 10]
    np.testing.assert_allclose([e.value for e in scalars], [v for _, v in rows], rtol=1e-5)
  for key, value in result["metrics"].items():  # the last interval, float32 in the file
    assert events.Scalars(f"train/{key}")[-1].value == np.float32(value)
  lr = [e.value for e in events.Scalars("train/learning_rate")]
  assert lr[0] > lr[1] > 0

  histograms = events.Histograms("train/granularity")
  assert [h.step for h in histograms] == [5, 10]
  for h, batches in zip(histograms, (range(1, 6), range(6, 11))):
    drawn = np.concatenate([_granularities(c) for c in batches])
    value = h.histogram_value
    assert value.num == drawn.size == 40
    np.testing.assert_allclose(value.sum, drawn.sum(), rtol=1e-6)
    limits = np.asarray(value.bucket_limit)
    counts = np.asarray(value.bucket)  # bucket i counts [limit i-1, limit i); 0: below
    expected = np.histogram(drawn, bins=np.linspace(0, 1, 11))[0]
    for i in range(1, len(limits)):
      k = int(np.rint(limits[i] * 10)) - 1
      assert counts[i] == expected[k]
    assert counts.sum() == 40

  images = events.Images("train/predictions")
  assert [im.step for im in images] == [4, 8]
  for im in images:
    assert (im.height, im.width) == (3 * 64, 3 * 64)  # 3 examples x (clicks, truth, prediction)
