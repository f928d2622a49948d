"""Click simulation on device: where the next click goes, for evaluation and for training.

Both rules place the click inside the larger error region, far from its border, using the exact
distance transform on the error mask zero-padded by one pixel (so the image border counts as
border). Distances are compared as exact integer squared distances, which orders and ties
exactly like OpenCV's float32 sqrt of the same integers.
"""

import jax
import jax.numpy as jnp

from graco_jax.interaction.clicks import ClickSet
from graco_jax.interaction.distance import squared_edt


def error_masks(pred_mask, gt, not_ignore):
  """False negatives and false positives restricted to non-ignored pixels, each [B, H, W] bool."""
  pred_mask = jnp.asarray(pred_mask, bool)
  gt = jnp.asarray(gt, bool)
  not_ignore = jnp.asarray(not_ignore, bool)
  fn = gt & ~pred_mask & not_ignore
  fp = ~gt & pred_mask & not_ignore
  return fn, fp


def padded_squared_edt(mask):
  """Squared EDT of mask [B, H, W] zero-padded by one pixel, cropped back: [B, H, W] int32."""
  padded = jnp.pad(jnp.asarray(mask, bool), ((0, 0), (1, 1), (1, 1)))
  return squared_edt(padded)[:, 1:-1, 1:-1]


def clicked_map(clicks: ClickSet, height: int, width: int):
  """[B, H, W] bool, True at the pixels of the valid clicks (rounded to the nearest pixel)."""
  batch = clicks.valid.shape[0]
  coords = jnp.round(clicks.coords).astype(jnp.int32)
  rows = jnp.where(clicks.valid, coords[..., 0], height)  # invalid slots dropped by the scatter
  b_index = jnp.arange(batch)[:, None]
  taken = jnp.zeros((batch, height, width), bool)
  return taken.at[b_index, rows, coords[..., 1]].set(True, mode="drop")


def _unravel(flat_index, width):
  return (flat_index // width).astype(jnp.int32), (flat_index % width).astype(jnp.int32)


def next_click_eval(pred_mask, gt, not_ignore, clicks: ClickSet):
  """The official evaluation Clicker's next click.

  Args:
    pred_mask: [B, H, W] bool, the thresholded prediction.
    gt: [B, H, W] bool, the object.
    not_ignore: [B, H, W] bool, False where the ground truth is ignored (and on padding).
    clicks: the clicks placed so far; their pixels are excluded.
  Returns:
    (y, x, is_positive), each [B]: int32, int32, bool. The click is positive when the largest
    false-negative distance is strictly larger than the largest false-positive one (a tie is
    negative); the point is the first maximum in row-major order. A perfect prediction gives a
    negative click at (0, 0), like the official code.
  """
  fn, fp = error_masks(pred_mask, gt, not_ignore)
  batch, height, width = fn.shape
  free = ~clicked_map(clicks, height, width)
  fn_d2 = jnp.where(free, padded_squared_edt(fn), 0).reshape(batch, -1)
  fp_d2 = jnp.where(free, padded_squared_edt(fp), 0).reshape(batch, -1)
  is_positive = jnp.max(fn_d2, axis=1) > jnp.max(fp_d2, axis=1)
  flat = jnp.where(is_positive, jnp.argmax(fn_d2, axis=1), jnp.argmax(fp_d2, axis=1))
  y, x = _unravel(flat, width)
  return y, x, is_positive


def next_click_train(key, pred_mask, gt, not_ignore):
  """The official trainer's iterative click: a uniformly random point of the larger error region
  among those whose distance to its border exceeds half the largest distance.

  Args:
    key: a jax.random key.
    pred_mask: [B, H, W] bool, the thresholded prediction (official threshold 0.49).
    gt: [B, H, W] bool, the object.
    not_ignore: [B, H, W] bool, False on ignored or padded pixels (the official trainer has no
      ignore label; pass all True for its behaviour).
  Returns:
    (y, x, is_positive, found), each [B]. `found` is False when the prediction has no error
    region; the official trainer then adds no click. The official trainer uses OpenCV's 5x5
    approximate distance; this uses the exact one.
  """
  fn, fp = error_masks(pred_mask, gt, not_ignore)
  batch, height, width = fn.shape
  fn_d2 = padded_squared_edt(fn).reshape(batch, -1)
  fp_d2 = padded_squared_edt(fp).reshape(batch, -1)
  fn_max = jnp.max(fn_d2, axis=1)
  fp_max = jnp.max(fp_d2, axis=1)
  is_positive = fn_max > fp_max
  d2 = jnp.where(is_positive[:, None], fn_d2, fp_d2)
  top = jnp.maximum(fn_max, fp_max)[:, None]
  inner = 4 * d2 > top  # sqrt(d2) > sqrt(top) / 2, exactly
  # A uniform choice among the inner points: the largest of i.i.d. uniform scores.
  scores = jnp.where(inner, jax.random.uniform(key, d2.shape), -1.0)
  y, x = _unravel(jnp.argmax(scores, axis=1), width)
  return y, x, is_positive, top[:, 0] > 0


def iou_counts(pred_mask, gt, not_ignore):
  """Intersection and union pixel counts over non-ignored pixels: [B, H, W] -> ([B], [B]) int32."""
  inter = jnp.sum(pred_mask & gt & not_ignore, axis=(1, 2), dtype=jnp.int32)
  union = jnp.sum((pred_mask | gt) & not_ignore, axis=(1, 2), dtype=jnp.int32)
  return inter, union
