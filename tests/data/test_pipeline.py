import ml_collections
import numpy as np
import pytest

from graco_jax.data import pipeline, registry
from graco_jax.data.sources.concat import ConcatSource
from graco_jax.training.defaults import train_fields


class Boxes:
  """Records with one box object each; granularity cycles through 0.2, 0.2, 0.2, 0.6."""

  def __init__(self, n=12, size=40):
    self.n, self.size = n, size

  def __len__(self):
    return self.n

  def __getitem__(self, i):
    image = np.full((self.size, self.size, 3), 10 * i, np.uint8)
    mask = np.zeros((self.size, self.size), np.int8)
    mask[5:5 + 10 + i, 8:30] = 1
    g = 0.6 if i % 4 == 3 else 0.2
    return {"image": image, "mask": mask, "image_id": str(i), "object_id": 0,
            "granularity": np.float32(g)}


def _config(sampling="shuffle"):
  config = ml_collections.ConfigDict()
  config.model = {"crop_size": (32, 32)}
  train_fields(config)
  config.train.max_num_points = 4
  config.data.sampling = sampling
  config.data.sampler.min_object_area = 10
  config.data.num_threads = 1
  return config


def test_batches_have_the_step_layout_and_are_deterministic():
  config = _config()
  a = next(iter(pipeline.make_train_dataset(Boxes(), config, batch_size=3, seed=1)))
  b = next(iter(pipeline.make_train_dataset(Boxes(), config, batch_size=3, seed=1)))
  capacity = 2 * 4 + 3
  assert a["image"].shape == (3, 32, 32, 3) and a["image"].dtype == np.uint8
  assert a["mask"].shape == (3, 32, 32) and a["mask"].dtype == np.int8
  assert a["coords"].shape == (3, capacity, 2) and a["valid"].shape == (3, capacity)
  assert a["granularity"].shape == (3,)
  for k in a:
    np.testing.assert_array_equal(a[k], b[k])


def test_iterator_state_resumes_exactly():
  config = _config()
  ds = pipeline.make_train_dataset(Boxes(), config, batch_size=2, seed=0)
  it = iter(ds)
  next(it)
  state = it.get_state()
  expected = [next(it) for _ in range(3)]
  resumed = iter(ds)
  resumed.set_state(state)
  for want in expected:
    got = next(resumed)
    for k in want:
      np.testing.assert_array_equal(got[k], want[k])


def test_processes_get_disjoint_records_of_each_epoch():
  config = _config()
  config.data.augment.photometric = False
  config.data.augment.scale_range = (1.0, 1.0)
  seen = []
  for index in range(2):
    it = iter(pipeline.make_train_dataset(Boxes(n=8, size=32), config, batch_size=2, seed=0,
                                          process_index=index, process_count=2))
    batches = [next(it) for _ in range(2)]
    seen.append({int(b["image"][j, 0, 0, 0]) // 10 for b in batches for j in range(2)})
  assert not seen[0] & seen[1]
  assert seen[0] | seen[1] == set(range(8))


def test_two_processes_read_the_blocks_of_the_one_process_batch():
  config = _config()
  one = iter(pipeline.make_train_dataset(Boxes(n=8, size=32), config, batch_size=4, seed=0))
  hosts = [iter(pipeline.make_train_dataset(Boxes(n=8, size=32), config, batch_size=2, seed=0,
                                            process_index=i, process_count=2)) for i in range(2)]
  for _ in range(3):
    want, got = next(one), [next(h) for h in hosts]
    for k in want:
      np.testing.assert_array_equal(np.concatenate([g[k] for g in got]), want[k])


def test_inverse_granularity_weights_balance_the_bins():
  g = np.array([0.2, 0.2, 0.2, 0.6, 0.0, np.nan, 1.0], np.float32)
  w = pipeline.inverse_granularity_weights(g)
  np.testing.assert_allclose(w, [1 / 9, 1 / 9, 1 / 9, 1 / 3, 0, 0, 1 / 3])


def test_inverse_granularity_sampling_draws_rare_granularities_as_often():
  config = _config("inverse_granularity")
  it = iter(pipeline.make_train_dataset(Boxes(), config, batch_size=8, seed=0))
  g = np.concatenate([next(it)["granularity"] for _ in range(40)])
  assert 0.4 < np.mean(np.isclose(g, 0.6)) < 0.6  # 3 of 12 records, half the draws


def test_concat_source_and_registry_errors():
  source = ConcatSource([Boxes(3), Boxes(5)])
  assert len(source) == 8 and source[4]["image_id"] == "1"
  assert source.granularities().shape == (8,)
  with pytest.raises(ValueError, match="unknown data source"):
    registry.build_source(ml_collections.ConfigDict({"source": "nope"}))


class Records:
  """Granularity-only records of a proposal database: (image_id, granularity) pairs."""

  def __init__(self, pairs):
    self.pairs = pairs

  def __len__(self):
    return len(self.pairs)

  def image_ids(self):
    return np.asarray([i for i, _ in self.pairs], object)

  def granularities(self):
    return np.asarray([g for _, g in self.pairs], np.float32)


# Bin 0.2 repeats in image A, bin 0.6 in image C; C holds an empty proposal (0.0), D only one.
DATABASE = [("A", 0.2), ("A", 0.2), ("A", 0.6), ("B", 0.2), ("B", 0.6),
            ("C", 0.6), ("C", 0.6), ("C", 0.0), ("D", 0.0)]
# By hand: N_0.2 = 3, N_0.6 = 4; images A, B, C drawn with 1/3 each (D has nothing to draw).
# A: 1/(3*2), 1/(3*2), 1/(4*1) -> 2/7, 2/7, 3/7; B: 1/3, 1/4 -> 4/7, 3/7; C: 1/8, 1/8 -> 1/2.
OFFICIAL = [2 / 21, 2 / 21, 3 / 21, 4 / 21, 3 / 21, 1 / 6, 1 / 6, 0, 0]


def test_per_image_inverse_granularity_weights_follow_the_official_loader():
  source = Records(DATABASE)
  w = pipeline.per_image_inverse_granularity_weights(source.granularities(), source.image_ids())
  np.testing.assert_allclose(w, OFFICIAL, rtol=1e-12, atol=0)
  # Ours (global inverse bin frequency) differs on every usable record of this database.
  ours = pipeline.inverse_granularity_weights(source.granularities())
  np.testing.assert_allclose(ours, [1 / 6, 1 / 6, 1 / 8, 1 / 6, 1 / 8, 1 / 8, 1 / 8, 0, 0])


def test_per_image_sampling_counts_each_part_and_draws_images_uniformly():
  # Two parts: the database above (3 drawable images) and two whole-object images (g = 1).
  source = ConcatSource([Records(DATABASE), Records([("E", 1.0), ("F", 1.0)])])
  config = ml_collections.ConfigDict({"sampling": "per_image_inverse_granularity"})
  w = pipeline.record_weights(source, config)
  np.testing.assert_allclose(w, [p * 3 / 5 for p in OFFICIAL] + [1 / 5, 1 / 5], rtol=1e-12)
  from graco_jax.training.defaults import graco_config
  assert graco_config("size=tiny").data.sampling == "per_image_inverse_granularity"
