"""The grain training pipeline: source -> weighted/shuffled indices -> augment + sample clicks
-> per-process batches, deterministic and checkpointable from (config, seed, step).

`config.data.source` names the dataset (graco_jax.data.registry).
`config.data.sampling`: 'shuffle' (epochs), 'weights_file' (official SBD sample scores with
gamma), 'per_image_inverse_granularity' (the official SBD proposal loader: an image uniformly,
then a proposal by inverse bin frequency; the GCL configs' default), 'inverse_granularity' (ours:
inverse bin frequency over all records, every bin the same total probability).

Batches are dicts of numpy arrays, leading axis = per-process batch (see training/step.py).
"""


import grain
import ml_collections
import numpy as np

from graco_jax import config_utils
from graco_jax.data import sampling, transforms
from graco_jax.data.sources.concat import ConcatSource, source_granularities, source_image_ids
from graco_jax.errors import InputError


def _bins(granularities):
  """0.1 bins 1..10 of the granularities; 0 for granularity 0 and NaN (never sampled)."""
  g = np.asarray(granularities, np.float64)
  return np.where(np.isfinite(g) & (g > 0), np.round(g * 10), 0).astype(np.int64)


def inverse_granularity_weights(granularities: np.ndarray) -> np.ndarray:
  """Ours: P(record) ~ 1 / (records in its 0.1 granularity bin), over all records.

  Every bin gets the same total probability (paper appendix Table B read literally).
  Granularity 0 (official: never sampled) and NaN get weight 0. This is not the official rule
  (`per_image_inverse_granularity_weights`), which differs wherever a bin repeats in an image.
  """
  bins = _bins(granularities)
  usable = bins > 0
  if not usable.any():
    raise InputError("no record has a positive granularity to sample by")
  counts = np.bincount(bins[usable], minlength=11)
  weights = np.where(usable, 1.0 / np.maximum(counts[bins], 1), 0.0)
  return weights / weights.sum()


def per_image_inverse_granularity_weights(granularities: np.ndarray,
                                          image_ids: np.ndarray) -> np.ndarray:
  """The official SBD proposal loader's rule: P(record) = P(image) * P(record | image).

  The image is drawn uniformly; within it, a record of bin b with probability proportional to
  1 / (N_b * n_b), N_b the records of bin b in the whole database and n_b those in the image.
  Granularity 0 and NaN get weight 0 (the official empty proposals); an image with only such
  records is never drawn (the official loader fails on it).
  """
  bins = _bins(granularities)
  usable = bins > 0
  if not usable.any():
    raise ValueError("no record has a positive granularity to sample by")
  _, image = np.unique(np.asarray(image_ids, object).astype(str), return_inverse=True)
  image = image.ravel()
  database = np.bincount(bins[usable], minlength=11)
  _, pair, in_image = np.unique(np.stack([image, np.where(usable, bins, -1)], 1), axis=0,
                                return_inverse=True, return_counts=True)
  weights = np.where(usable, 1.0 / np.maximum(database[bins] * in_image[pair.ravel()], 1), 0.0)
  per_image = np.bincount(image, weights, minlength=image.max() + 1)
  drawn = per_image > 0
  weights = np.where(usable, weights / np.where(drawn, per_image, 1.0)[image], 0.0)
  return weights / drawn.sum()


def record_weights(source, data_config) -> np.ndarray | None:
  mode = data_config.sampling
  if mode == "shuffle":
    return None
  if mode == "inverse_granularity":
    return inverse_granularity_weights(source_granularities(source))
  if mode == "per_image_inverse_granularity":
    # Each part of a concatenation is its own database (the official counts per dataset);
    # images are drawn uniformly over all parts.
    parts = source.sources if isinstance(source, ConcatSource) else [source]
    weights, images = [], []
    for part in parts:
      g, ids = source_granularities(part), source_image_ids(part)
      drawn = len(np.unique(ids[_bins(g) > 0].astype(str)))
      weights.append(per_image_inverse_granularity_weights(g, ids) if drawn else np.zeros(len(g)))
      images.append(drawn)
    if not sum(images):
      raise ValueError("no record has a positive granularity to sample by")
    return np.concatenate([w * n for w, n in zip(weights, images)]) / sum(images)
  if mode == "weights_file":
    from graco_jax.data.sources.sbd_train import sample_weights
    return sample_weights(data_config.weights_file, len(source), data_config.weights_gamma)
  raise InputError(f"unknown sampling {mode!r}; use shuffle, per_image_inverse_granularity, "
                   "inverse_granularity or weights_file")


class PrepareExample:
  """(index, rng) -> one training example; runs in grain workers (picklable)."""

  def __init__(self, source, cdf, augment_config, sampler_config, capacity,
               keep_background_prob, default_granularity, max_tries=10):
    self.source = source
    self.cdf = cdf
    self.augment_config = augment_config
    self.sampler_config = sampler_config
    self.capacity = capacity
    self.keep_background_prob = keep_background_prob
    self.default_granularity = default_granularity
    self.max_tries = max_tries

  def __call__(self, index, rng: np.random.Generator):
    if self.cdf is not None:
      index = min(int(np.searchsorted(self.cdf, rng.random(), side="right")), len(self.cdf) - 1)
    record = self.source[int(index)]
    instances = record.get("instances")
    if instances is None:
      instances = np.asarray(record["mask"], np.int32)
    # Official `augment_sample`: re-augment until an object is visible, or keep an empty crop
    # with probability keep_background_prob.
    for _ in range(self.max_tries):
      image, labels = transforms.augment(np.asarray(record["image"], np.uint8),
                                         {"instances": np.asarray(instances, np.int32)}, rng,
                                         self.augment_config)
      if (labels["instances"] > 0).any() or rng.random() < self.keep_background_prob:
        break
    mask, coords, is_positive, valid = sampling.sample_target_and_clicks(
        labels["instances"], rng, self.sampler_config, self.capacity)
    granularity = np.float32(record.get("granularity", np.nan))
    if not np.isfinite(granularity):
      granularity = np.float32(self.default_granularity)
    return {"image": image, "mask": mask, "coords": coords, "is_positive": is_positive,
            "valid": valid, "granularity": granularity}


def click_capacity(train_config) -> int:
  """Initial clicks (up to max_num_points of each sign) + the iterative ones."""
  return 2 * train_config.max_num_points + train_config.max_num_next_clicks


def make_train_dataset(source, config: ml_collections.ConfigDict, *, batch_size: int,
                       seed: int, process_index: int = 0, process_count: int = 1):
  """An infinite grain `IterDataset` of per-process batches (batch_size = global / processes)."""
  data = config.data
  weights = record_weights(source, data)
  n = len(source)
  if n == 0:
    raise InputError(f"data source {source!r} is empty")
  indices = grain.MapDataset.range(n)
  cdf = None
  if weights is None:
    indices = indices.shuffle(seed=seed)
  else:
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
  augment_config = config_utils.dataclass_from_config(transforms.AugmentConfig, {
      **dict(data.augment), "crop_size": tuple(config.model.crop_size)})
  sampler_config = config_utils.dataclass_from_config(sampling.SamplerConfig, {
      **dict(data.sampler), "max_num_points": config.train.max_num_points})
  prepare = PrepareExample(source, cdf, augment_config, sampler_config,
                           click_capacity(config.train), data.keep_background_prob,
                           data.default_granularity)
  ds = indices.repeat().random_map(prepare, seed=seed)
  # Process p takes block p of every global batch: the global batch (the blocks in process
  # order, as make_array_from_process_local_data lays them out) is the one 1 process draws.
  ds = ds.batch(batch_size, drop_remainder=True)[process_index::process_count]
  ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=data.num_threads,
                                            prefetch_buffer_size=data.prefetch))
  if data.num_workers > 0:
    # grain 0.2.x reads an absl flag in mp_prefetch and fails when the program never parsed
    # absl flags (google/grain#1355, fixed upstream in #1362): use the flags' defaults.
    from absl import flags
    if not flags.FLAGS.is_parsed():
      flags.FLAGS.mark_as_parsed()
    ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=data.num_workers))
  return ds
