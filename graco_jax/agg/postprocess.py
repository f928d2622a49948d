"""Post-processing of loop predictions into proposals, on the host (numpy / scipy.ndimage).

Runs after the jitted loop, at the source image's resolution so the official pixel thresholds
(1500 px components) keep their meaning. Data-dependent connected-component labelling has no
clean static-shape form on device, and it costs far less than the network.
"""

import numpy as np
from scipy import ndimage

EIGHT_CONNECTED = np.ones((3, 3), bool)


def round_to_bins(value):
  """The official `np.round(value, 1)` in float64: round(10 * value) / 10, halves to even on the
  float64 product (0.25 -> 0.2, 0.45 -> 0.4, 1.05 -> 1.0), the granularity bins of the embedding."""
  return np.round(np.asarray(value, np.float64), 1)


def fill_holes(mask):
  """[H, W] bool with every background region not connected to the border filled."""
  return ndimage.binary_fill_holes(np.asarray(mask, bool))


def select_component(mask, rng: np.random.Generator, min_component_area: int = 1500):
  """One 8-connected component of `mask` [H, W] bool, as the official generator picks it.

  With several components: a random one among those larger than `min_component_area` pixels,
  else the largest (the first largest on ties). A single component or an empty mask is unchanged.
  """
  mask = np.asarray(mask, bool)
  labels, count = ndimage.label(mask, structure=EIGHT_CONNECTED)
  if count <= 1:
    return mask
  sizes = np.bincount(labels.ravel())[1:]
  eligible = np.flatnonzero(sizes > min_component_area)
  chosen = rng.choice(eligible) if len(eligible) else int(np.argmax(sizes))
  return labels == chosen + 1


def make_proposals(pred, obj, rng: np.random.Generator, *, min_component_area: int = 1500,
                   min_complement_scale: float = 0.1, fill: bool = True):
  """The loop proposal and its complement within the object.

  Args:
    pred: [H, W] bool, the thresholded last loop prediction.
    obj: [H, W] bool, the object mask G (non-empty).
    rng: draws the component when several are eligible.
    min_component_area: components larger than this are eligible (official 1500 px).
    min_complement_scale: the complement is kept when its 0.1-rounded scale exceeds this
      (official 0.1).
    fill: fill holes of the loop proposal before choosing its component (paper: "morphological
      processing to eliminate mask holes"). The complement is not filled: its holes are the
      proposal.

  Returns:
    A list of (rank, mask [H, W] bool, scale_granularity, is_object) for rank 0 (the loop
    proposal) and 1 (the complement), leaving out empty ones. A proposal whose rounded scale
    exceeds 1.0 falls back to the object itself (`is_object`: scale and semantic granularity 1).
  """
  obj = np.asarray(obj, bool)
  obj_area = obj.sum()
  if obj_area == 0:
    raise ValueError("make_proposals needs a non-empty object mask")
  main = np.asarray(pred, bool)
  main = select_component(fill_holes(main) if fill else main, rng, min_component_area)
  out = []
  is_object = bool(round_to_bins(main.sum() / obj_area) > 1.0)
  if is_object:
    main = obj
  if main.any():
    out.append((0, main, 1.0 if is_object else main.sum() / obj_area, is_object))
  rest = select_component(obj & ~main, rng, min_component_area)
  if rest.any() and round_to_bins(rest.sum() / obj_area) > min_complement_scale:
    out.append((1, rest, rest.sum() / obj_area, False))
  return out
