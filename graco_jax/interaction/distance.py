"""Exact Euclidean distance transform in JAX (batched, jittable, static shapes).

Two separable passes on integer squared distances, so results are exact and ties are exact:
1. down the columns, the distance of each pixel to the nearest background pixel of its own
   column: two sequential scans over the rows (last background row above, first below), each
   step one contiguous row of every map;
2. along the rows, d2[i, j] = min_j' ((j - j')^2 + g[i, j']^2), visiting source columns by
   increasing offset |j - j'| = 0, 1, 2, ... and stopping once offset^2 reaches the largest
   current d2: every later candidate is at least offset^2, so the result is exact. The loop visits
   (largest distance in the batch + 1) offsets, O(H * W) work each and fully parallel, instead of
   the O(H * W * min(H, W)) of a brute-force min; error regions are thin after a few clicks. It
   is bound by memory traffic, so each pass over d2 visits 32 offsets and carries its own max.

The maps are laid out [H, B, W] for both passes, so that a row of every map is one contiguous
block. On 16 GrabCut-size masks (602 x 642) this takes 65 ms with 150-pixel objects and 34 ms
with thin ones, against 142 and 77 ms with the column pass as a log-depth scan along the rows
and 8 offsets per pass (2-core AMD EPYC).

Matches `scipy.ndimage.distance_transform_edt` and OpenCV's exact `distanceTransform(DIST_L2, 0)`
(both compute sqrt of the exact integer squared distance).
"""

import jax
import jax.numpy as jnp

_UNROLL = 32  # source-column offsets visited per pass of the offset loop


def _column_distance(background, far):
  """background [H, ...] -> distance along axis 0 to the nearest True, capped at `far`."""
  length = background.shape[0]
  index = jnp.arange(length, dtype=jnp.int32)

  def nearest(start, reverse):  # index of the last background row seen, scanning one way
    def step(last, row):
      i, is_background = row
      last = jnp.where(is_background, i, last)
      return last, last
    init = jnp.full(background.shape[1:], start, jnp.int32)
    return jax.lax.scan(step, init, (index, background), reverse=reverse)[1]

  above, below = nearest(-far, False), nearest(length + far, True)
  index = index.reshape((length,) + (1,) * (background.ndim - 1))
  return jnp.minimum(jnp.minimum(index - above, below - index), far)


def squared_edt(mask: jax.Array) -> jax.Array:
  """mask [B, H, W] bool -> [B, H, W] int32 exact squared distance of True pixels to the nearest
  False pixel (0 on False pixels). An instance without any False pixel gets a sentinel larger than
  any real squared distance, (H + W)^2 or more; use `edt` for the float semantics.
  """
  mask = jnp.transpose(jnp.asarray(mask, bool), (1, 0, 2))  # [H, B, W]
  height, _, width = mask.shape
  far = height + width
  g = _column_distance(~mask, far)
  far2 = far * far
  # Out-of-image source columns never win: pad with the sentinel on both sides (and by the
  # unroll, so the last group's offsets past the image read the sentinel too).
  reach = width + _UNROLL
  d2 = g * g
  padded = jnp.pad(d2, ((0, 0), (0, 0), (reach, reach)), constant_values=far2)

  def not_done(carry):
    offset, _, largest = carry
    return (offset < width) & (offset * offset < largest)

  def visit(carry):
    offset, d2, _ = carry
    for k in range(_UNROLL):
      left = jax.lax.dynamic_slice_in_dim(padded, reach - offset - k, width, axis=2)
      right = jax.lax.dynamic_slice_in_dim(padded, reach + offset + k, width, axis=2)
      d2 = jnp.minimum(d2, jnp.minimum(left, right) + (offset + k) * (offset + k))
    return offset + _UNROLL, d2, jnp.max(d2)

  _, d2, _ = jax.lax.while_loop(not_done, visit, (jnp.int32(1), d2, jnp.max(d2)))
  return jnp.transpose(d2, (1, 0, 2))


def edt(mask: jax.Array) -> jax.Array:
  """mask [B, H, W] bool -> [B, H, W] float32 Euclidean distance of each True pixel to the
  nearest False pixel, 0 on False pixels (scipy.ndimage.distance_transform_edt semantics).

  An instance with no False pixel at all has no defined distance: it gets +inf everywhere
  (scipy returns distances to a virtual background there). The click rules zero-pad their error
  masks first, so they always have background.
  """
  mask = jnp.asarray(mask, bool)
  d2 = squared_edt(mask)
  has_background = jnp.any(~mask, axis=(1, 2), keepdims=True)
  return jnp.where(has_background, jnp.sqrt(d2.astype(jnp.float32)), jnp.inf)
