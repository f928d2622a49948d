"""Resizes with PyTorch's `F.interpolate` semantics, as separable interpolation matrices.

The official model resizes with torch (bilinear with and without align_corners, bicubic for
position embeddings); `jax.image.resize` differs at the borders and in the bicubic kernel
(a = -0.5 vs torch's -0.75), so parity needs these. Matrices also make the resizes matmuls,
which is what accelerators are fast at.
"""

import numpy as np
import jax.numpy as jnp


def _source_positions(out_size: int, in_size: int, align_corners: bool) -> np.ndarray:
  dst = np.arange(out_size, dtype=np.float64)
  if align_corners:
    scale = (in_size - 1) / (out_size - 1) if out_size > 1 else 0.0
    return dst * scale
  return (dst + 0.5) * (in_size / out_size) - 0.5


def bilinear_matrix(out_size: int, in_size: int, align_corners: bool) -> np.ndarray:
  """[out, in] matrix M with resized = M @ signal, torch 'bilinear' (no antialias)."""
  src = _source_positions(out_size, in_size, align_corners)
  if not align_corners:
    src = np.maximum(src, 0.0)  # torch clamps negative source positions to 0
  low = np.minimum(np.floor(src).astype(np.int64), in_size - 1)
  high = np.minimum(low + 1, in_size - 1)
  frac = src - low
  matrix = np.zeros((out_size, in_size), np.float64)
  rows = np.arange(out_size)
  np.add.at(matrix, (rows, low), 1.0 - frac)
  np.add.at(matrix, (rows, high), frac)
  return matrix.astype(np.float32)


def _cubic_weights(t: np.ndarray, a: float = -0.75) -> np.ndarray:
  """Keys cubic convolution weights for the 4 taps at offsets -1, 0, 1, 2."""
  def near(x):  # |x| <= 1
    return ((a + 2) * x - (a + 3)) * x * x + 1
  def far(x):  # 1 < |x| < 2
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
  return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=-1)


def bicubic_matrix(out_size: int, in_size: int, align_corners: bool = False) -> np.ndarray:
  """[out, in] matrix for torch 'bicubic' (a = -0.75, border indices clamped)."""
  src = _source_positions(out_size, in_size, align_corners)
  base = np.floor(src).astype(np.int64)
  weights = _cubic_weights(src - base)
  matrix = np.zeros((out_size, in_size), np.float64)
  rows = np.arange(out_size)
  for tap in range(4):
    index = np.clip(base - 1 + tap, 0, in_size - 1)
    np.add.at(matrix, (rows, index), weights[:, tap])
  return matrix.astype(np.float32)


def resize_bilinear(x, out_hw, align_corners: bool):
  """x: [B, H, W, C] -> [B, out_h, out_w, C]."""
  _, h, w, _ = x.shape
  if (h, w) == tuple(out_hw):
    return x
  my = jnp.asarray(bilinear_matrix(out_hw[0], h, align_corners), x.dtype)
  mx = jnp.asarray(bilinear_matrix(out_hw[1], w, align_corners), x.dtype)
  return jnp.einsum("oh,bhwc,pw->bopc", my, x, mx)


def resize_bicubic(x, out_hw, align_corners: bool = False):
  """x: [H, W, C] -> [out_h, out_w, C] (used on position-embedding grids)."""
  h, w, _ = x.shape
  if (h, w) == tuple(out_hw):
    return x
  my = jnp.asarray(bicubic_matrix(out_hw[0], h, align_corners), x.dtype)
  mx = jnp.asarray(bicubic_matrix(out_hw[1], w, align_corners), x.dtype)
  return jnp.einsum("oh,hwc,pw->opc", my, x, mx)
