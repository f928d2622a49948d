"""A toy world for AGG tests: images that encode their parts, and a predictor that obeys them.

Image channel 0 is a horizontal ramp x / (W - 1); channel 1 holds a part id p as p / 10 (vertical
stripes). The toy predictor starts from the previous mask (or, when that is empty, the ramp) and
removes every part that holds a negative click, so the loop simulation's result can be computed
by hand: after N iterations, the object minus the N parts the negative clicks fell into.
"""

import jax.numpy as jnp
import numpy as np

SIZE = 64


def part_predict_fn(images, clicks, prev_probs, granularity=None):
  """[B, H, W, 1]: prev (or the ramp if prev is empty) minus the parts holding negative clicks."""
  del granularity
  parts = jnp.round(images[..., 1] * 10).astype(jnp.int32)  # [B, H, W]
  ramp = images[..., 0]
  prev = prev_probs[..., 0]
  base = jnp.where(jnp.any(prev > 0, axis=(1, 2), keepdims=True), prev, ramp)
  b = jnp.arange(images.shape[0])[:, None]
  clicked = parts[b, clicks.coords[..., 0], clicks.coords[..., 1]]  # [B, K]
  negative = clicks.valid & ~clicks.is_positive
  hit = jnp.any((parts[:, None] == clicked[:, :, None, None]) & negative[:, :, None, None], axis=1)
  return jnp.where(hit, 0.0, base)[..., None]


def part_image(part_edges, size=SIZE):
  """uint8-exact float image: ramp in channel 0, part id / 10 in channel 1 (columns
  [part_edges[k], part_edges[k+1]) are part k + 1; others part 0)."""
  x = np.arange(size)
  parts = np.zeros(size, np.int32)
  for k in range(len(part_edges) - 1):
    parts[(x >= part_edges[k]) & (x < part_edges[k + 1])] = k + 1
  image = np.zeros((size, size, 3), np.float32)
  image[..., 0] = x[None, :] / (size - 1)
  image[..., 1] = parts[None, :] / 10
  return image


class ToySource:
  """Records in the shared format: a rectangle object split in 2-3 vertical parts."""

  def __init__(self, num_records=10, seed=0):
    rng = np.random.default_rng(seed)
    self.items = []
    for _ in range(num_records):
      top, left = rng.integers(4, 16, size=2)
      bottom, right = rng.integers(44, 60, size=2)
      cuts = np.sort(rng.choice(np.arange(left + 8, right - 8), size=rng.integers(1, 3),
                                replace=False))
      self.items.append((top, bottom, [left, *cuts, right]))

  def __len__(self):
    return len(self.items)

  def __repr__(self):
    return f"ToySource({len(self)})"

  def __getitem__(self, i):
    top, bottom, edges = self.items[i]
    # Exactly representable in uint8: ramp values are rounded the same way the engine reads them.
    image = np.round(part_image(edges) * 255).astype(np.uint8)
    mask = np.zeros((SIZE, SIZE), np.int8)
    mask[top:bottom, edges[0]:edges[-1]] = 1
    return {"image": image, "mask": mask, "image_id": f"toy{i:03d}", "object_id": 1,
            "granularity": np.float32(1.0)}
