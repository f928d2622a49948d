"""Clicks -> disk maps: where a click becomes model input.

Official `DistMaps(use_disks=True)`: a pixel (r, c) is inside the disk of click (y, x) when
(r - y)^2 + (c - x)^2 <= radius^2, with r, c the integer pixel indices and y, x the click
coordinates (possibly fractional after zoom-in). Instead of one full-resolution map per click
slot (the official cost, which grows with capacity), each click scatters a small stencil.
"""

import math

import jax
import jax.numpy as jnp

from graco_jax.interaction.clicks import ClickSet


def disk_maps(clicks: ClickSet, height: int, width: int, radius: float = 5.0) -> jax.Array:
  """Returns [B, H, W, 2] float32: positive disks in channel 0, negative disks in channel 1."""
  batch, capacity = clicks.valid.shape
  # Offsets of a box that covers the disk for any fractional click centre.
  reach = int(math.floor(radius)) + 1
  offsets = jnp.arange(-reach, reach + 1)
  dy, dx = jnp.meshgrid(offsets, offsets, indexing="ij")
  dy, dx = dy.reshape(-1), dx.reshape(-1)  # [S]

  coords = clicks.coords.astype(jnp.float32)
  base_y = jnp.floor(coords[..., 0]).astype(jnp.int32)  # [B, K]
  base_x = jnp.floor(coords[..., 1]).astype(jnp.int32)
  rows = base_y[..., None] + dy  # [B, K, S]
  cols = base_x[..., None] + dx
  dist2 = (rows - coords[..., 0:1]) ** 2 + (cols - coords[..., 1:2]) ** 2
  inside = (dist2 <= radius**2) & clicks.valid[..., None]
  inside &= (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)

  channel = jnp.where(clicks.is_positive, 0, 1)[..., None]  # [B, K, 1]
  b_index = jnp.arange(batch)[:, None, None]
  # Out-of-disk stencil cells are sent out of bounds and dropped by the scatter.
  rows = jnp.where(inside, rows, height)
  maps = jnp.zeros((batch, height, width, 2), jnp.float32)
  return maps.at[b_index, rows, cols, channel].max(1.0, mode="drop")
