"""Disk maps against a brute-force numpy rendering of the official DistMaps(use_disks=True)."""

import jax.numpy as jnp
import numpy as np

from graco_jax.interaction.clicks import ClickSet
from graco_jax.interaction.encoding import disk_maps


def _numpy_disks(coords, positive, valid, height, width, radius):
  rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
  out = np.zeros((coords.shape[0], height, width, 2), np.float32)
  for b in range(coords.shape[0]):
    for k in range(coords.shape[1]):
      if not valid[b, k]:
        continue
      y, x = coords[b, k]
      inside = (rows - y) ** 2 + (cols - x) ** 2 <= radius**2
      out[b, ..., 0 if positive[b, k] else 1] = np.maximum(out[b, ..., 0 if positive[b, k] else 1],
                                                            inside)
  return out


def test_disk_maps_match_numpy_for_integer_and_fractional_clicks():
  rng = np.random.default_rng(0)
  height, width = 37, 53
  coords = np.stack([rng.uniform(-3, height + 2, (3, 12)), rng.uniform(-3, width + 2, (3, 12))], -1)
  coords[0] = np.round(coords[0])  # one instance with integer clicks
  coords[1, 0] = (0, 0)
  coords[1, 1] = (height - 1, width - 1)
  positive = rng.uniform(size=(3, 12)) < 0.5
  valid = np.arange(12)[None] < np.array([[12], [7], [0]])
  for radius in (5.0, 2.5):
    clicks = ClickSet(jnp.asarray(coords, jnp.float32), jnp.asarray(positive), jnp.asarray(valid))
    ours = np.asarray(disk_maps(clicks, height, width, radius))
    np.testing.assert_array_equal(ours, _numpy_disks(coords, positive, valid, height, width, radius))
  assert ours[2].max() == 0  # no clicks, no disks


def test_radius_five_disk_has_the_official_pixel_count():
  clicks = ClickSet(jnp.array([[[20, 20]]], jnp.int32), jnp.array([[True]]), jnp.array([[True]]))
  maps = np.asarray(disk_maps(clicks, 41, 41, 5.0))
  # Lattice points with dy^2 + dx^2 <= 25 (boundary included, as `<=` in DistMaps).
  assert maps[..., 0].sum() == 81
  assert maps[0, 15, 20, 0] == 1 and maps[0, 20, 25, 0] == 1 and maps[0, 16, 16, 0] == 0
  assert maps[..., 1].sum() == 0
