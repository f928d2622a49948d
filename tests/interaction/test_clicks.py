"""ClickSet updates and the official points layout."""

import jax.numpy as jnp
import numpy as np
import pytest

from graco_jax.interaction.clicks import (add_click, empty_clicks, from_official_points,
                                          to_official_points)


def _three_clicks():
  clicks = empty_clicks(2, 4)
  clicks = add_click(clicks, jnp.array([5, 7]), jnp.array([6, 8]), jnp.array([True, True]))
  clicks = add_click(clicks, jnp.array([1, 2]), jnp.array([3, 4]), jnp.array([False, True]))
  clicks = add_click(clicks, jnp.array([9, 0]), jnp.array([9, 0]), jnp.array([True, False]),
                     where=jnp.array([True, False]))
  return clicks


def test_add_click_fills_slots_in_order_and_respects_where():
  clicks = _three_clicks()
  np.testing.assert_array_equal(np.asarray(clicks.count), [3, 2])
  np.testing.assert_array_equal(np.asarray(clicks.coords[0]), [[5, 6], [1, 3], [9, 9], [0, 0]])
  np.testing.assert_array_equal(np.asarray(clicks.is_positive[0]), [True, False, True, False])
  np.testing.assert_array_equal(np.asarray(clicks.valid[1]), [True, True, False, False])


def test_full_click_set_is_left_unchanged():
  clicks = empty_clicks(1, 2)
  for i in range(3):
    clicks = add_click(clicks, jnp.array([i]), jnp.array([i]), jnp.array([True]))
  np.testing.assert_array_equal(np.asarray(clicks.coords[0, :, 0]), [0, 1])
  assert int(clicks.count[0]) == 2


def test_official_points_layout_by_hand():
  points = to_official_points(_three_clicks(), num_max_points=3)
  expected0 = [[5, 6, 0], [9, 9, 2], [-1, -1, -1], [1, 3, 1], [-1, -1, -1], [-1, -1, -1]]
  expected1 = [[7, 8, 0], [2, 4, 1], [-1, -1, -1], [-1, -1, -1], [-1, -1, -1], [-1, -1, -1]]
  np.testing.assert_array_equal(points[0], expected0)
  np.testing.assert_array_equal(points[1], expected1)


def test_official_points_round_trip():
  clicks = _three_clicks()
  back = from_official_points(to_official_points(clicks, num_max_points=4), capacity=4)
  for name in ("coords", "is_positive", "valid"):
    np.testing.assert_array_equal(np.asarray(getattr(back, name)), np.asarray(getattr(clicks, name)))


def test_too_many_clicks_for_the_official_layout_is_an_error():
  with pytest.raises(ValueError, match="more than 1 clicks of one sign"):
    to_official_points(_three_clicks(), num_max_points=1)
