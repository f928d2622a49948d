"""Loop simulation with the deterministic part predictor: results a hand computation gives."""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from agg_toys import SIZE, part_image, part_predict_fn
from graco_jax.agg import engine

EDGES = [8, 24, 40, 56]  # three parts of 16 columns


def _batch(batch=4, edges=EDGES):
  images = np.stack([part_image(edges)] * batch)
  objects = np.zeros((batch, SIZE, SIZE), bool)
  objects[:, 10:50, edges[0]:edges[-1]] = True
  keys = np.asarray(jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(0), i))(
      jnp.arange(batch)))
  return jnp.asarray(images), jnp.asarray(objects), keys


@jax.jit
def _loop(images, objects, keys, num_iters, min_area, distance):
  return engine.loop_simulation(part_predict_fn, images, objects, keys, num_iters, min_area,
                                max_iters=4, min_click_distance=distance)


def _run(num_iters, min_area=0.0, distance=0.0, batch=4):
  images, objects, keys = _batch(batch)
  probs, clicks = _loop(images, objects, keys, jnp.int32(num_iters), jnp.full([batch], min_area),
                        jnp.float32(distance))
  return np.asarray(images), np.asarray(objects), np.asarray(probs), clicks


def _part_of(x):
  return np.searchsorted(EDGES, x, side="right")


def test_two_iterations_leave_the_one_part_not_clicked():
  _, objects, probs, clicks = _run(num_iters=2)
  coords, positive, valid = map(np.asarray, (clicks.coords, clicks.is_positive, clicks.valid))
  parts_seen = set()
  for b in range(4):
    assert valid[b].tolist() == [True, True, True, False, False]
    assert positive[b, :3].tolist() == [True, False, False]
    assert all(objects[b, y, x] for y, x in coords[b, :3])
    neg_parts = {_part_of(x) for _, x in coords[b, 1:3]}
    assert len(neg_parts) == 2  # the second click falls inside what the first left
    (left,) = {1, 2, 3} - neg_parts
    parts_seen.add(left)
    expected = np.zeros((SIZE, SIZE), np.float32)
    expected[10:50, EDGES[left - 1]:EDGES[left]] = 1.0
    np.testing.assert_array_equal(probs[b], expected)
  assert len(parts_seen) > 1  # instance keys differ


def test_small_prediction_gets_no_new_click():
  _, objects, probs, clicks = _run(num_iters=3, min_area=40 * 48 + 1)
  np.testing.assert_array_equal(np.asarray(clicks.count), [1, 1, 1, 1])
  np.testing.assert_array_equal(probs, objects.astype(np.float32))


def test_clicks_keep_their_distance():
  _, _, _, clicks = _run(num_iters=2, distance=40.0)
  coords, valid = np.asarray(clicks.coords), np.asarray(clicks.valid)
  for b in range(4):
    pts = coords[b][valid[b]].astype(float)
    d = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    assert np.all(d[np.triu_indices(len(pts), 1)] >= 40.0)
  # Nothing lies 200 px away on a 64 px image: only the positive click.
  _, _, _, clicks = _run(num_iters=2, distance=200.0)
  np.testing.assert_array_equal(np.asarray(clicks.count), [1, 1, 1, 1])


def test_draw_pixel_picks_only_allowed_pixels():
  allowed = np.zeros((7, 9), bool)
  allowed[5, 2] = True
  y, x, found = engine.draw_pixel(jax.random.PRNGKey(3), jnp.asarray(allowed))
  assert (int(y), int(x), bool(found)) == (5, 2, True)
  _, _, found = engine.draw_pixel(jax.random.PRNGKey(3), jnp.zeros((7, 9), bool))
  assert not bool(found)
  allowed[1, 1] = True
  keys = jax.random.split(jax.random.PRNGKey(0), 400)
  ys, xs, _ = engine.draw_pixels(keys, jnp.broadcast_to(jnp.asarray(allowed), (400, 7, 9)))
  hits = set(zip(np.asarray(ys).tolist(), np.asarray(xs).tolist()))
  assert hits == {(5, 2), (1, 1)}
  assert 150 < int(np.sum(np.asarray(ys) == 5)) < 250  # uniform over the two


def test_squared_distance_to_clicks_matches_numpy():
  from graco_jax.interaction.clicks import add_click, empty_clicks
  clicks = add_click(empty_clicks(1, 3), jnp.array([2]), jnp.array([3]), jnp.array([True]))
  clicks = add_click(clicks, jnp.array([6]), jnp.array([0]), jnp.array([False]))
  d2 = np.asarray(engine.squared_distance_to_clicks(clicks, 8, 5))[0]
  yy, xx = np.mgrid[:8, :5]
  expected = np.minimum((yy - 2) ** 2 + (xx - 3) ** 2, (yy - 6) ** 2 + xx ** 2)
  np.testing.assert_array_equal(d2, expected)


def test_semantic_probs_click_inside_region():
  images, objects, keys = _batch(2)
  regions = np.zeros((2, SIZE, SIZE), bool)
  regions[:, 20:22, 30:33] = True
  probs = engine.semantic_probs(part_predict_fn, images, jnp.asarray(regions),
                                jnp.zeros((2, SIZE, SIZE)), keys)
  # The toy predictor returns the ramp for an empty previous mask and a positive click.
  np.testing.assert_allclose(np.asarray(probs), np.asarray(images[..., 0]))
