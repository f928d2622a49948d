"""Exact Euclidean distance transform in JAX (batched, jittable, static shapes).

Two separable passes on integer squared distances, so results are exact and ties are exact:
1. along the long axis, the distance of each pixel to the nearest background pixel of its own
   line (a running max / min of background indices: linear work);
2. along the short axis, d2[i, j] = min_i' ((i - i')^2 + g[i', j]^2), visiting source lines by
   increasing offset |i - i'| = 0, 1, 2, ... and stopping once offset^2 reaches the largest
   current d2: every later candidate is at least offset^2, so the result is exact. The loop visits
   (largest distance in the batch + 1) offsets, O(H * W) work each and fully parallel, instead of
   the O(H * W * min(H, W)) of a brute-force min; error regions are thin after a few clicks. It
   is bound by memory traffic, so each pass over d2 visits 8 offsets and carries its own max:
   4.5x faster than one offset per pass with the max taken again in the loop condition.

Matches `scipy.ndimage.distance_transform_edt` and OpenCV's exact `distanceTransform(DIST_L2, 0)`
(both compute sqrt of the exact integer squared distance).
"""

import jax
import jax.numpy as jnp

_UNROLL = 8  # source-line offsets visited per pass of the offset loop


def _line_distance(background, far):
  """Distance along the last axis to the nearest True of `background` [..., L], capped at `far`."""
  length = background.shape[-1]
  index = jnp.arange(length, dtype=jnp.int32)
  # Log-depth scans: XLA's CPU backend runs lax.cummax as a reduce-window, quadratic in L.
  axis = background.ndim - 1
  left = jax.lax.associative_scan(jnp.maximum, jnp.where(background, index, -far), axis=axis)
  right = jax.lax.associative_scan(jnp.minimum, jnp.where(background, index, length + far),
                                   axis=axis, reverse=True)
  return jnp.minimum(jnp.minimum(index - left, right - index), far)


def squared_edt(mask: jax.Array) -> jax.Array:
  """mask [B, H, W] bool -> [B, H, W] int32 exact squared distance of True pixels to the nearest
  False pixel (0 on False pixels). An instance without any False pixel gets a sentinel larger than
  any real squared distance, (H + W)^2 or more; use `edt` for the float semantics.
  """
  mask = jnp.asarray(mask, bool)
  _, height, width = mask.shape
  transpose = height > width  # the offset loop runs along the short axis
  if transpose:
    mask = jnp.swapaxes(mask, 1, 2)
  short, long = mask.shape[1:]
  far = short + long
  g = _line_distance(~mask, far)  # [B, S, L] distance along the long axis
  far2 = far * far
  # Out-of-image source lines never win: pad with the sentinel on both sides (and by the unroll,
  # so the last group's offsets past the image read the sentinel too).
  reach = short + _UNROLL
  d2 = g * g
  padded = jnp.pad(d2, ((0, 0), (reach, reach), (0, 0)), constant_values=far2)

  def not_done(carry):
    offset, _, largest = carry
    return (offset < short) & (offset * offset < largest)

  def visit(carry):
    offset, d2, _ = carry
    for k in range(_UNROLL):
      above = jax.lax.dynamic_slice_in_dim(padded, reach - offset - k, short, axis=1)
      below = jax.lax.dynamic_slice_in_dim(padded, reach + offset + k, short, axis=1)
      d2 = jnp.minimum(d2, jnp.minimum(above, below) + (offset + k) * (offset + k))
    return offset + _UNROLL, d2, jnp.max(d2)

  _, d2, _ = jax.lax.while_loop(not_done, visit, (jnp.int32(1), d2, jnp.max(d2)))
  if transpose:
    d2 = jnp.swapaxes(d2, 1, 2)
  return d2


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
