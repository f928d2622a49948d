"""AGG mask engine: the multi-granularity loop simulation (paper Eqs. 1-2), batched and jittable.

Per instance: a positive click drawn uniformly inside the object, a first prediction with the
object mask as the previous mask (Eq. 1), then N iterations that each add a negative click drawn
uniformly inside the current prediction, at least `min_click_distance` pixels from every click so
far, and predict again with the last prediction as the previous mask (Eq. 2). N is one value for
the whole batch, as in the official generator. An instance whose prediction is smaller than
`min_area` pixels gets no new click that iteration (the official 400 px rule), and one with no
pixel far enough from its clicks gets none either (the paper's distance check, which the official
code leaves out).

Everything runs inside one traced program: clicks are drawn with jax.random (Gumbel-max over the
allowed pixels), keyed per instance so the result does not depend on batch layout or device count.
"""

import jax
import jax.numpy as jnp

from graco_jax.interaction.clicks import ClickSet, add_click, empty_clicks


def draw_pixel(key, allowed):
  """One pixel drawn uniformly among `allowed` [H, W] bool: (y, x, found) int32, int32, bool."""
  height, width = allowed.shape
  score = jnp.where(allowed, jax.random.gumbel(key, allowed.shape), -jnp.inf)
  flat = jnp.argmax(score.reshape(-1))
  return (flat // width).astype(jnp.int32), (flat % width).astype(jnp.int32), jnp.any(allowed)


def draw_pixels(keys, allowed):
  """Batched `draw_pixel`: keys [B, 2] uint32, allowed [B, H, W] -> (y, x, found), each [B]."""
  return jax.vmap(draw_pixel)(keys, allowed)


def squared_distance_to_clicks(clicks: ClickSet, height: int, width: int):
  """[B, H, W] float32: squared distance of each pixel to the nearest valid click (inf if none).

  A running minimum over the (few) click slots, never a [B, K, H, W] stack.
  """
  yy = jnp.arange(height, dtype=jnp.float32)[None, :, None]
  xx = jnp.arange(width, dtype=jnp.float32)[None, None, :]
  coords = clicks.coords.astype(jnp.float32)

  def one_slot(k, best):
    d2 = (yy - coords[:, k, 0, None, None]) ** 2 + (xx - coords[:, k, 1, None, None]) ** 2
    return jnp.minimum(best, jnp.where(clicks.valid[:, k, None, None], d2, jnp.inf))

  init = jnp.full((clicks.coords.shape[0], height, width), jnp.inf, jnp.float32)
  return jax.lax.fori_loop(0, clicks.capacity, one_slot, init)


def loop_simulation(predict_fn, images, objects, keys, num_iters, min_area, *, max_iters: int,
                    min_click_distance: float, threshold: float = 0.5, granularity=None):
  """Runs the loop simulation for a batch.

  Args:
    predict_fn: the shared predictor, (images, clicks, prev_probs, granularity) -> probs [B,H,W,1].
    images: [B, H, W, 3] float32 in [0, 1].
    objects: [B, H, W] bool object masks (G); an all-False row is a padding instance.
    keys: [B, 2] uint32 raw PRNG keys, one per instance.
    num_iters: int32 scalar N (may be traced), at most `max_iters`.
    min_area: [B] float32, the minimum prediction area (in input pixels) for a new click.
    max_iters: the click capacity is 1 + max_iters.
    min_click_distance: a negative click is at least this far (pixels) from every earlier click.
    threshold: probability threshold of the prediction.
    granularity: [B] or None, passed to predict_fn.

  Returns:
    (probs [B, H, W] float32 of the last prediction, ClickSet of the clicks used).
  """
  batch, height, width = objects.shape
  objects = jnp.asarray(objects, bool)
  y, x, found = draw_pixels(jax.vmap(lambda k: jax.random.fold_in(k, 0))(keys), objects)
  clicks = add_click(empty_clicks(batch, 1 + max_iters), y, x, jnp.ones([batch], bool),
                     where=found)
  probs = predict_fn(images, clicks, objects[..., None].astype(jnp.float32), granularity)[..., 0]
  min_d2 = jnp.float32(min_click_distance) ** 2

  def iteration(t, carry):
    clicks, probs = carry
    pred = probs > threshold
    area = jnp.sum(pred, axis=(1, 2))
    allowed = pred & (squared_distance_to_clicks(clicks, height, width) >= min_d2)
    step_keys = jax.vmap(lambda k: jax.random.fold_in(k, t + 1))(keys)
    y, x, found = draw_pixels(step_keys, allowed)
    add = found & (area >= min_area)
    clicks = add_click(clicks, y, x, jnp.zeros([batch], bool), where=add)
    probs = predict_fn(images, clicks, probs[..., None], granularity)[..., 0]
    return clicks, probs

  clicks, probs = jax.lax.fori_loop(0, num_iters, iteration, (clicks, probs))
  return probs, clicks


def semantic_probs(predict_fn, images, regions, prev_masks, keys, granularity=None):
  """Probability maps for the semantic granularity (Eq. 3): one positive click in `regions`.

  images [B, H, W, 3]; regions [B, H, W] bool (the eroded proposal); prev_masks [B, H, W] float32
  (zeros as the official estimator, or the object as Eq. 3 writes); keys [B, 2] -> [B, H, W].
  """
  batch = regions.shape[0]
  y, x, found = draw_pixels(keys, jnp.asarray(regions, bool))
  clicks = add_click(empty_clicks(batch, 1), y, x, jnp.ones([batch], bool), where=found)
  return predict_fn(images, clicks, prev_masks[..., None], granularity)[..., 0]
