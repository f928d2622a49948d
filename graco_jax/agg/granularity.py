"""Granularity estimator (paper Eqs. 3-6): scale, semantic, and their combination.

Scale granularity is the area ratio of proposal and object (Eq. 4). Semantic granularity is the
peak difference (max - min) of the model's probability map from one positive click inside the
eroded proposal, over the proposal divided by over the object (Eq. 5). Both raw values are kept
in the store; the combined value lies on the 0.1 bins the granularity embedding uses.

Two combinations:
  'paper':    bins((1 - lam) * scale + lam * semantic), both clipped to [0, 1] (Eq. 6).
  'official': what the official SBD loader's blend of the 0.1-rounded values evaluates to: the
              scale bin (the released model effectively trains on scale granularity).
"""

import math

import numpy as np
from scipy import ndimage

from graco_jax.agg.postprocess import round_to_bins
from graco_jax.errors import InputError

COMBINATIONS = ("paper", "official")


def click_region(mask):
  """Where the semantic click may go: `mask` [H, W] eroded by radius ceil(0.1 * sqrt(area)).

  Erosion by a 3x3 square, that many times, outside the image counting as foreground (OpenCV's
  erode default); the mask itself if erosion leaves nothing.
  """
  mask = np.asarray(mask, bool)
  radius = int(math.ceil(0.1 * math.sqrt(mask.sum())))
  if radius == 0:
    return mask
  eroded = ndimage.binary_erosion(mask, np.ones((3, 3), bool), iterations=radius, border_value=1)
  return eroded if eroded.any() else mask


def peak_difference(probs, region):
  """max - min of probs [H, W] over region [H, W] bool (0 for an empty region)."""
  values = np.asarray(probs)[np.asarray(region, bool)]
  return float(values.max() - values.min()) if values.size else 0.0


FLAT_SEMANTICS = ("scale", "official")


def semantic_granularity(probs, proposal, obj, scale: float, flat: str = "scale"):
  """Eq. 5 on probs [H, W]; `flat` says what a flat map over the object (max == min) gives.

  'scale' (ours): the scale granularity, since a flat map carries no semantic evidence.
  'official': the official float division and its min(., 1.0): 1.0 when the proposal's range is
  positive (x / 0 = inf), NaN when it is flat too (0 / 0). Downstream a NaN semantic value drops
  out of the combination (`combine`: the scale bin, as the official blend's `sem <= 1.0` test
  fails on NaN); the store keeps it (JSON NaN) and the summary histogram skips it.
  """
  if flat not in FLAT_SEMANTICS:
    raise ValueError(f"flat semantic rule {flat!r} is not one of {FLAT_SEMANTICS}")
  over_object = peak_difference(probs, obj)
  if over_object <= 0.0:
    if flat == "scale":
      return float(scale)
    return 1.0 if peak_difference(probs, proposal) > 0.0 else math.nan
  return peak_difference(probs, proposal) / over_object


def discretize(value) -> float:
  """0.1 bins in [0.1, 1.0] (the official scale rule: rounded to 0.1, 0.1 at least)."""
  return float(np.clip(round_to_bins(value), 0.1, 1.0))


def combine(scale: float, semantic: float, lam: float = 0.5, combination: str = "paper") -> float:
  """The granularity of a proposal on the 0.1 bins (Eq. 6 or the official blend); a NaN
  semantic value (no evidence, see `semantic_granularity`) leaves the scale bin."""
  if combination in COMBINATIONS and math.isnan(semantic):
    return discretize(scale)
  if combination == "paper":
    return discretize((1.0 - lam) * min(max(scale, 0.0), 1.0) + lam * min(max(semantic, 0.0), 1.0))
  if combination == "official":
    # The official blend round(0.1 * sem + 0.9 * scale, 1) only applies when the rounded values
    # differ by less than 0.1, and then rounds back to the scale bin: it is the scale bin.
    return discretize(scale)
  raise InputError(f"granularity combination {combination!r} is not one of {COMBINATIONS}")
