"""Which object a training sample targets, and its initial clicks (host side, numpy).

In the spirit of the official `MultiPointSampler(24, prob_gamma=0.8, merge_objects_prob=0.15,
max_num_merged_objects=2)` with `ISDataset(min_object_area=80)`:
- objects smaller than `min_object_area` pixels after augmentation are dropped;
- with probability `merge_objects_prob` (and >= 2 objects) 2..max_num_merged objects are merged
  into one target, else one object is chosen uniformly;
- positive clicks: 1 + k with P(k) ~ gamma^k, k < max_num_points, uniform in the target
  eroded by three 3x3 steps (probability 0.9, kept only if > 10 pixels remain); with merged
  objects one click per object first, then up to max_num_points more from a random object each;
- negative clicks: k with P(k) ~ gamma^k, k <= max_num_points, each drawn from the background
  (0.1), other objects (0.4; the background when there is none) or a border ring
  ceil(0.1 * sqrt(area)) pixels wide around the target (0.5).
Where we differ: the official sampler's object hierarchy (`use_hierarchy`), soft targets and
first-click-at-centre options are not offered (the GraCo recipe uses none of them); a negative
draw that lands on an empty strategy mask is skipped, like the official code.
Clicks come out in a fixed-capacity layout: positives first, then negatives.
"""

import dataclasses
import math

import numpy as np
from scipy import ndimage

from graco_jax.errors import InputError


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
  max_num_points: int = 24
  prob_gamma: float = 0.8
  merge_objects_prob: float = 0.15
  max_num_merged_objects: int = 2
  min_object_area: int = 80
  positive_erode_prob: float = 0.9
  positive_erode_iters: int = 3
  negative_probs: tuple = (0.1, 0.4, 0.5)  # background, other objects, border
  expand_ratio: float = 0.1



def geometric_probs(n: int, gamma: float) -> np.ndarray:
  """P(k) ~ gamma^k for k in [0, n) (official `generate_probs`)."""
  p = gamma ** np.arange(n, dtype=np.float64)
  return p / p.sum()


def remove_small_objects(instances: np.ndarray, min_area: int) -> np.ndarray:
  """Label map [H, W] (0 background, -1 ignore, k > 0 objects) without objects < min_area px."""
  ids, areas = np.unique(instances[instances > 0], return_counts=True)
  small = ids[areas < min_area]
  if small.size:
    instances = np.where(np.isin(instances, small), 0, instances)
  return instances


def _erode(mask, rng, config):
  if rng.random() > config.positive_erode_prob:
    return mask
  # cv2.erode treats the outside as foreground: objects are not eroded from the image border.
  eroded = ndimage.binary_erosion(mask, np.ones((3, 3), bool),
                                  iterations=config.positive_erode_iters, border_value=1)
  return eroded if eroded.sum() > 10 else mask


def _border_ring(mask, expand_ratio):
  radius = int(math.ceil(expand_ratio * math.sqrt(mask.sum())))
  if radius == 0:
    return np.zeros_like(mask)
  size = 2 * radius + 1  # `radius` 3x3 dilations = one square of this side
  return ndimage.maximum_filter(mask, size=size, mode="constant") & ~mask


def _pick(mask, rng):
  ys, xs = np.nonzero(mask)
  if ys.size == 0:
    return None
  i = rng.integers(ys.size)
  return int(ys[i]), int(xs[i])


def sample_target_and_clicks(instances: np.ndarray, rng: np.random.Generator,
                             config: SamplerConfig, capacity: int):
  """instances [H, W] int label map -> (mask int8 [H, W] 1/0/-1, coords [K, 2] int32,
  is_positive [K] bool, valid [K] bool) with K = capacity >= 2 * max_num_points."""
  if capacity < 2 * config.max_num_points:
    raise InputError(f"click capacity {capacity} < 2 * max_num_points {config.max_num_points}")
  instances = remove_small_objects(instances, config.min_object_area)
  ignore = instances < 0
  ids = [int(i) for i in np.unique(instances[instances > 0])]
  chosen = []
  if ids:
    if len(ids) > 1 and rng.random() < config.merge_objects_prob:
      count = int(rng.integers(2, min(len(ids), config.max_num_merged_objects) + 1))
      chosen = [int(i) for i in rng.choice(ids, size=count, replace=False)]
    else:
      chosen = [ids[int(rng.integers(len(ids)))]]
  target = np.isin(instances, chosen) if chosen else np.zeros(instances.shape, bool)

  positives = []
  pos_masks = [_erode(instances == i, rng, config) for i in chosen]
  n_max = config.max_num_points
  if len(pos_masks) == 1:
    count = 1 + rng.choice(n_max, p=geometric_probs(n_max, config.prob_gamma))
    positives = [_pick(pos_masks[0], rng) for _ in range(count)]
  elif len(pos_masks) > 1:
    positives = [_pick(m, rng) for m in pos_masks]
    extra = rng.choice(n_max + 1, p=geometric_probs(n_max + 1, config.prob_gamma))
    positives += [_pick(pos_masks[rng.integers(len(pos_masks))], rng) for _ in range(extra)]
  positives = [p for p in positives if p is not None][:n_max]

  background = ~target & ~ignore
  others = (instances > 0) & ~target
  strategies = [background, others if others.any() else background,
                _border_ring(target, config.expand_ratio) & ~ignore]
  count = rng.choice(n_max + 1, p=geometric_probs(n_max + 1, config.prob_gamma))
  negatives = []
  for _ in range(count):
    strategy = rng.choice(3, p=np.asarray(config.negative_probs) / sum(config.negative_probs))
    negatives.append(_pick(strategies[strategy], rng))
  negatives = [p for p in negatives if p is not None][:n_max]

  coords = np.zeros((capacity, 2), np.int32)
  is_positive = np.zeros((capacity,), bool)
  valid = np.zeros((capacity,), bool)
  for k, (yx, positive) in enumerate([(p, True) for p in positives] +
                                     [(p, False) for p in negatives]):
    coords[k] = yx
    is_positive[k] = positive
    valid[k] = True
  mask = target.astype(np.int8)
  mask[ignore] = -1
  return mask, coords, is_positive, valid
