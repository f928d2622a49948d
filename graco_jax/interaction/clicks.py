"""Fixed-capacity click sets, so every click loop has static shapes and jits once.

A `ClickSet` holds up to K clicks per instance, filled in order: slot k is the k-th click.
Coordinates are (y, x) pixel indices of the model input; transforms such as zoom-in may carry
float coordinates (the official code does too), which the disk encoding accepts.
"""

import flax
import jax
import jax.numpy as jnp
import numpy as np


@flax.struct.dataclass
class ClickSet:
  coords: jax.Array  # [B, K, 2] (y, x), int32 (float after a geometric transform)
  is_positive: jax.Array  # [B, K] bool
  valid: jax.Array  # [B, K] bool; the valid slots are always a prefix

  @property
  def capacity(self) -> int:
    return self.coords.shape[1]

  @property
  def count(self) -> jax.Array:
    """Number of clicks per instance, [B] int32."""
    return jnp.sum(self.valid, axis=1, dtype=jnp.int32)


def empty_clicks(batch_size: int, capacity: int) -> ClickSet:
  return ClickSet(
      coords=jnp.zeros((batch_size, capacity, 2), jnp.int32),
      is_positive=jnp.zeros((batch_size, capacity), bool),
      valid=jnp.zeros((batch_size, capacity), bool),
  )


def add_click(clicks: ClickSet, y, x, is_positive, where=None) -> ClickSet:
  """Appends one click per instance (y, x, is_positive: [B]); `where` [B] masks the update.

  An instance whose set is full keeps its set unchanged.
  """
  count = clicks.count
  slot = jax.nn.one_hot(count, clicks.capacity, dtype=bool)  # all-False when full
  if where is not None:
    slot &= jnp.asarray(where, bool)[:, None]
  yx = jnp.stack([jnp.asarray(y), jnp.asarray(x)], axis=-1).astype(clicks.coords.dtype)
  return ClickSet(
      coords=jnp.where(slot[..., None], yx[:, None, :], clicks.coords),
      is_positive=jnp.where(slot, jnp.asarray(is_positive, bool)[:, None], clicks.is_positive),
      valid=clicks.valid | slot,
  )


def to_official_points(clicks: ClickSet, num_max_points: int | None = None) -> np.ndarray:
  """ClickSet -> official points array [B, 2*P, 3] of (y, x, click index), -1 rows unused.

  The first P rows hold positive clicks, the last P negative clicks, each in click order.
  """
  coords = np.asarray(clicks.coords)
  positive = np.asarray(clicks.is_positive)
  valid = np.asarray(clicks.valid)
  batch, capacity = valid.shape
  num_points = capacity if num_max_points is None else num_max_points
  points = np.full((batch, 2 * num_points, 3), -1, np.float32)
  for b in range(batch):
    filled = [0, 0]
    for k in np.flatnonzero(valid[b]):
      half = 0 if positive[b, k] else 1
      if filled[half] >= num_points:
        raise ValueError(f"instance {b} has more than {num_points} clicks of one sign")
      points[b, half * num_points + filled[half]] = (coords[b, k, 0], coords[b, k, 1], k)
      filled[half] += 1
  return points


def from_official_points(points, capacity: int | None = None) -> ClickSet:
  """Official points array [B, 2*P, 3] -> ClickSet ordered by the click index column."""
  points = np.asarray(points)
  batch, rows, _ = points.shape
  num_points = rows // 2
  capacity = rows if capacity is None else capacity
  coords = np.zeros((batch, capacity, 2), np.int32)
  positive = np.zeros((batch, capacity), bool)
  valid = np.zeros((batch, capacity), bool)
  for b in range(batch):
    used = [r for r in range(rows) if points[b, r, 0] >= 0 or points[b, r, 1] >= 0]
    used.sort(key=lambda r: points[b, r, 2])
    if len(used) > capacity:
      raise ValueError(f"instance {b} has {len(used)} clicks, capacity is {capacity}")
    for k, r in enumerate(used):
      coords[b, k] = np.round(points[b, r, :2]).astype(np.int32)
      positive[b, k] = r < num_points
      valid[b, k] = True
  return ClickSet(jnp.asarray(coords), jnp.asarray(positive), jnp.asarray(valid))
