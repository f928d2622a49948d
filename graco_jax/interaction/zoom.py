"""The official inference transforms as pure functions on batches: zoom-in box, crop, paste-back, flip.

`graco_jax.predictor` composes them into the evaluation protocol's predictor.

Official `ZoomIn(skip_clicks=-1, target_size=(448, 448) or (672, 672) on DAVIS, expansion_ratio=1.4,
min_crop_size=200, recompute_thresh_iou=0.5, prob_thresh=0.5)` + `AddHorizontalFlip`:
- the box is the bounding box of (previous probabilities > 0.5) plus the positive clicks, expanded
  x1.4 around its centre with at least 200 px per side, rounded half-to-even (Python `round`),
  clamped to the image; with an empty previous mask the box is the whole image;
- the box in use is replaced when there is none yet, when a positive click falls outside it
  (y < rmin or y >= rmax: the official half-open test), or when the new box's IoU with it is
  below 0.5;
- the box of image + previous probabilities is resized to the target size (bilinear,
  align_corners=True); clicks map as y' = th * (y - rmin) / (rmax - rmin + 1);
- the logits of the image and of its horizontal flip (x' = tw - x - 1) are averaged, passed
  through a sigmoid, resized back to the box (bilinear, align_corners=True) and pasted into zeros.
The box is dynamic, so crops are gathers with per-instance coordinates, not slices.
"""

import jax
import jax.numpy as jnp
import numpy as np

from graco_jax.interaction.clicks import ClickSet


def _half_extent_table(length, expansion_ratio, min_crop_size):
  """The official half extent h = 0.5 * max(r * n, m) of each box side n in [0, length], as the
  float64 sums c -/+ h of expand_bbox see it: int32 [length + 1, E].

  c = (lo + hi) / 2 is a multiple of 1/2, so fl(c +/- h) = c +/- h', where h' is h rounded
  (half to even) to the spacing of float64 numbers of the magnitude of c +/- h. Column e holds
  2h' for sums with 2^e <= |2c +/- 2h| < 2^(e+1), as 2 * floor(2h') + (2h' not an integer):
  exactly what the integer rounding in `_expand` needs (1.4 * 175 = 244.99999999999997, so
  2h' is 245 for some centres and 245 - 2^-45 for others).
  """
  n = np.arange(length + 1, dtype=np.float64)
  extent = np.maximum(expansion_ratio * n, min_crop_size)  # 2h, the official float64 product
  columns = int(2 * length + extent.max() + 2).bit_length()
  spacing = 2.0 ** (np.arange(columns) - 52)  # float64 spacing in [2^e, 2^(e+1))
  rounded = np.round(extent[:, None] / spacing) * spacing  # power-of-two scaling: exact
  whole = np.floor(rounded)
  return jnp.asarray(2 * whole + (rounded != whole), jnp.int32)


def _round_half_even_of_halves(twice):
  """round(twice / 2) with ties to even, for int32 `twice`."""
  floor = jnp.floor_divide(twice, 2)
  tie = (twice % 2) == 1
  return jnp.where(tie & (floor % 2 == 1), floor + 1, floor)


def _expand(lo, hi, table):
  """Official expand_bbox on one axis, bit-identical to its float64 arithmetic:
  lo, hi [B] int32 -> round(c - h), round(c + h) [B] int32 (Python round, before clamping).

  In units of 1/2: 2c = lo + hi and 2h' (see `_half_extent_table`) give the rounded sums
  c -/+ h' = (2c -/+ 2h') / 2, rounded to integers in exact integer arithmetic.
  """
  last_n, last_e = table.shape[0] - 1, table.shape[1] - 1
  n = jnp.clip(hi - lo + 1, 0, last_n)  # clipped: an empty mask's box is discarded
  twice_center = lo + hi
  exact = table[n, 0]  # 2h itself (the finest spacing)
  floor_ext = exact >> 1
  ceil_ext = floor_ext + (exact & 1)

  def magnitude(at_least):
    """e with 2^e <= |2c +/- 2h| < 2^(e+1), from an integer with the same bit length."""
    return jnp.clip(31 - jax.lax.clz(jnp.maximum(at_least, 0)), 0, last_e)

  up = table[n, magnitude(twice_center + floor_ext)]
  down = table[n, magnitude(jnp.maximum(twice_center - ceil_ext, floor_ext - twice_center))]
  up_whole, down_whole = up >> 1, down >> 1
  # A non-integer sum s has round(s / 2) = (floor(s) + 1) // 2; an integer one rounds half to even.
  hi_out = jnp.where(up & 1, (twice_center + up_whole + 1) // 2,
                     _round_half_even_of_halves(twice_center + up_whole))
  lo_out = jnp.where(down & 1, (twice_center - down_whole) // 2,
                     _round_half_even_of_halves(twice_center - down_whole))
  return lo_out, hi_out


def _first_last(any_along):
  """[B, L] bool -> (first True index, last True index) [B]."""
  length = any_along.shape[1]
  index = jnp.arange(length)
  first = jnp.min(jnp.where(any_along, index, length), axis=1)
  last = jnp.max(jnp.where(any_along, index, -1), axis=1)
  return first.astype(jnp.int32), last.astype(jnp.int32)


def object_roi(mask, clicks: ClickSet, sizes, tables):
  """Official get_object_roi: mask [B, H, W] bool, sizes [B, 2] -> box [B, 4] (rmin, rmax, cmin, cmax)."""
  batch, height, width = mask.shape
  coords = clicks.coords.astype(jnp.int32)  # official int(click.coords)
  rows = jnp.where(clicks.valid & clicks.is_positive, coords[..., 0], height)
  mask = jnp.asarray(mask).at[jnp.arange(batch)[:, None], rows, coords[..., 1]].set(True, mode="drop")
  rmin, rmax = _first_last(jnp.any(mask, axis=2))
  cmin, cmax = _first_last(jnp.any(mask, axis=1))
  rmin, rmax = _expand(rmin, rmax, tables[0])
  cmin, cmax = _expand(cmin, cmax, tables[1])
  return jnp.stack([jnp.maximum(rmin, 0), jnp.minimum(rmax, sizes[:, 0] - 1),
                    jnp.maximum(cmin, 0), jnp.minimum(cmax, sizes[:, 1] - 1)], axis=1)


def _box_iou_below(b1, b2, threshold):
  """Official get_bbox_iou(b1, b2) < threshold, in exact integer arithmetic. [B, 4] -> [B]."""
  def segment(a, b, c, d):
    inter = jnp.maximum(0, jnp.minimum(b, d) - jnp.maximum(a, c) + 1)
    union = jnp.maximum(1, jnp.maximum(b, d) - jnp.minimum(a, c) + 1)
    return inter, union
  ih, uh = segment(b1[:, 0], b1[:, 1], b2[:, 0], b2[:, 1])
  iw, uw = segment(b1[:, 2], b1[:, 3], b2[:, 2], b2[:, 3])
  return (ih * iw).astype(jnp.float32) < threshold * (uh * uw).astype(jnp.float32)


def _clicks_outside(roi, clicks: ClickSet):
  """Official check_object_roi fails: a positive click with y < rmin or y >= rmax (same for x)."""
  y, x = clicks.coords[..., 0], clicks.coords[..., 1]
  rmin, rmax, cmin, cmax = (roi[:, i:i + 1] for i in range(4))
  outside = (y < rmin) | (y >= rmax) | (x < cmin) | (x >= cmax)
  return jnp.any(outside & clicks.valid & clicks.is_positive, axis=1)


def _align_corners_scale(src_len, dst_len):
  """torch's align_corners source step (in - 1) / (out - 1), 0 when out == 1; float32 [B]."""
  src_len = jnp.asarray(src_len, jnp.float32)
  dst_len = jnp.asarray(dst_len, jnp.float32)
  return jnp.where(dst_len > 1, (src_len - 1) / jnp.maximum(dst_len - 1, 1), 0.0)


def _sample_bilinear(x, src_y, src_x, limit_y, limit_x):
  """Separable bilinear sampling with per-instance coordinates (torch's rule: the upper
  neighbour is clamped to the last source pixel of the region).

  x [B, H, W, C]; src_y [B, Ho], src_x [B, Wo] float32 absolute source coordinates;
  limit_y, limit_x [B] int32: last valid source row / column. Returns [B, Ho, Wo, C].
  """
  y0 = jnp.floor(src_y).astype(jnp.int32)
  x0 = jnp.floor(src_x).astype(jnp.int32)
  wy = (src_y - y0)[:, :, None, None]
  wx = (src_x - x0)[:, None, :, None]
  y1 = jnp.minimum(y0 + 1, limit_y[:, None])
  x1 = jnp.minimum(x0 + 1, limit_x[:, None])
  height, width = x.shape[1:3]
  y0, y1 = jnp.clip(y0, 0, height - 1), jnp.clip(y1, 0, height - 1)
  x0, x1 = jnp.clip(x0, 0, width - 1), jnp.clip(x1, 0, width - 1)
  take_rows = jax.vmap(lambda img, r: img[r])
  take_cols = jax.vmap(lambda img, c: img[:, c])
  top, bottom = take_rows(x, y0), take_rows(x, y1)  # [B, Ho, W, C]
  rows = (1 - wy) * top + wy * bottom
  left, right = take_cols(rows, x0), take_cols(rows, x1)  # [B, Ho, Wo, C]
  return (1 - wx) * left + wx * right


def crop_and_resize(x, roi, target_size):
  """The box roi [B, 4] of x [B, H, W, C] resized to target_size (bilinear, align_corners)."""
  th, tw = target_size
  rh, rw = roi[:, 1] - roi[:, 0] + 1, roi[:, 3] - roi[:, 2] + 1
  src_y = roi[:, 0:1] + jnp.arange(th, dtype=jnp.float32) * _align_corners_scale(rh, th)[:, None]
  src_x = roi[:, 2:3] + jnp.arange(tw, dtype=jnp.float32) * _align_corners_scale(rw, tw)[:, None]
  return _sample_bilinear(x, src_y, src_x, roi[:, 1], roi[:, 3])


def paste_back(crop, roi, height, width):
  """Inverse of crop_and_resize: crop [B, th, tw, C] resized to the box and pasted into zeros
  [B, height, width, C]."""
  th, tw = crop.shape[1:3]
  rh, rw = roi[:, 1] - roi[:, 0] + 1, roi[:, 3] - roi[:, 2] + 1
  rows = jnp.arange(height)[None, :] - roi[:, 0:1]  # [B, H] offset inside the box
  cols = jnp.arange(width)[None, :] - roi[:, 2:3]
  src_y = rows.astype(jnp.float32) * _align_corners_scale(th, rh)[:, None]
  src_x = cols.astype(jnp.float32) * _align_corners_scale(tw, rw)[:, None]
  last = jnp.full(roi.shape[:1], th - 1), jnp.full(roi.shape[:1], tw - 1)
  out = _sample_bilinear(crop, jnp.clip(src_y, 0, th - 1), jnp.clip(src_x, 0, tw - 1), *last)
  inside = ((rows >= 0) & (rows < rh[:, None]))[:, :, None] & ((cols >= 0) & (cols < rw[:, None]))[:, None, :]
  return jnp.where(inside[..., None], out, 0.0)


def transform_clicks(clicks: ClickSet, roi, target_size, flip: bool = False):
  """Official ZoomIn._transform_clicks (then AddHorizontalFlip's x -> tw - x - 1 when `flip`):
  integer image clicks -> float clicks in the resized box.

  Each coordinate is one float32 division of two exact integers (th (y - rmin) / rh, and
  ((tw - 1) rw - tw (x - cmin)) / rw flipped): the correctly rounded exact value, as the
  official float64 arithmetic gives after its cast to float32. The divisor is materialised at
  the clicks' shape behind an optimization barrier: XLA rewrites a division by a broadcast
  into a multiplication by its reciprocal, which is off by an ulp for some clicks and only
  when there are 2 or more click slots, so masks would depend on the click capacity.
  """
  th, tw = target_size
  coords = clicks.coords.astype(jnp.int32)
  rh = (roi[:, 1] - roi[:, 0] + 1)[:, None]
  rw = (roi[:, 3] - roi[:, 2] + 1)[:, None]
  y = th * (coords[..., 0] - roi[:, 0:1])
  x = tw * (coords[..., 1] - roi[:, 2:3])
  if flip:
    x = (tw - 1) * rw - x
  def ratio(n, d):
    d = jax.lax.optimization_barrier(jnp.broadcast_to(d, n.shape).astype(jnp.float32))
    return n.astype(jnp.float32) / d
  return clicks.replace(coords=jnp.stack([ratio(y, rh), ratio(x, rw)], axis=-1))


def flip_clicks(clicks: ClickSet, width):
  """Official AddHorizontalFlip: x -> width - x - 1."""
  coords = clicks.coords.astype(jnp.float32)
  return clicks.replace(coords=coords.at[..., 1].set(width - coords[..., 1] - 1))
