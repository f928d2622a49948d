"""Hole filling, component choice and complements on hand-made masks."""

import os

import numpy as np

from graco_jax.agg import postprocess

HERE = os.path.dirname(os.path.abspath(__file__))


def _rect(shape, top, bottom, left, right):
  m = np.zeros(shape, bool)
  m[top:bottom, left:right] = True
  return m


def test_round_to_bins_rounds_halves_to_even_like_numpy_round():
  # Official np.round(x, 1): the float64 product 10 * x rounded half to even, divided by 10.
  values = [0.04, 0.05, 0.149, 0.15, 0.25, 0.35, 0.45, 0.65, 0.85, 0.96, 1.049, 1.05]
  expected = [0.0, 0.0, 0.1, 0.2, 0.2, 0.4, 0.4, 0.6, 0.8, 1.0, 1.0, 1.0]
  assert postprocess.round_to_bins(values).tolist() == expected


def test_round_to_bins_matches_exact_half_even_on_area_ratios():
  # Every ratio p / q of integer areas (q <= 200, p <= 2q) against Python's exact half-even
  # round of the float64 product, independent of numpy.
  ratios = [p / q for q in range(1, 201) for p in range(2 * q + 1)]
  expected = [round(r * 10.0) / 10 for r in ratios]
  assert postprocess.round_to_bins(ratios).tolist() == expected


def test_scale_of_1_05_keeps_the_proposal():
  big_obj = _rect((30, 30), 0, 20, 0, 20)  # 400 px; the prediction spills out by 20 px: 1.05
  pred = _rect((30, 30), 0, 21, 0, 20)
  out = postprocess.make_proposals(pred, big_obj, np.random.default_rng(0), min_component_area=0)
  assert len(out) == 1 and not out[0][3] and out[0][2] == 1.05  # kept (official), not the object
  pred = _rect((30, 30), 0, 22, 0, 20)  # 440 px: 1.1 -> the object itself
  out = postprocess.make_proposals(pred, big_obj, np.random.default_rng(0), min_component_area=0)
  assert out[0][3] and out[0][2] == 1.0


def test_fill_holes_fills_enclosed_background_only():
  m = _rect((9, 9), 1, 8, 1, 8)
  m[3:6, 3:6] = False  # enclosed hole
  m[1:4, 1] = False  # notch open to the outside
  filled = postprocess.fill_holes(m)
  expected = _rect((9, 9), 1, 8, 1, 8)
  expected[1:4, 1] = False
  np.testing.assert_array_equal(filled, expected)


def test_select_component_uses_8_connectivity():
  m = np.zeros((6, 6), bool)
  m[1, 1] = m[2, 2] = True  # diagonal neighbours: one component
  m[5, 5] = True
  out = postprocess.select_component(m, np.random.default_rng(0), min_component_area=1500)
  expected = np.zeros((6, 6), bool)
  expected[1, 1] = expected[2, 2] = True  # no eligible component: the largest
  np.testing.assert_array_equal(out, expected)


def test_select_component_draws_among_eligible_components():
  shape = (100, 100)
  big1 = _rect(shape, 0, 40, 0, 40)  # 1600 px
  big2 = _rect(shape, 50, 90, 50, 90)  # 1600 px
  small = _rect(shape, 0, 10, 60, 70)  # 100 px
  m = big1 | big2 | small
  chosen = set()
  for seed in range(12):
    out = postprocess.select_component(m, np.random.default_rng(seed), min_component_area=1500)
    assert out.sum() == 1600
    chosen.add(bool(out[0, 0]))
  assert chosen == {True, False}
  # Only one above 1500 px: always that one.
  m = big1 | _rect(shape, 50, 80, 50, 80) | small
  out = postprocess.select_component(m, np.random.default_rng(0), min_component_area=1500)
  np.testing.assert_array_equal(out, big1)


def test_proposal_and_complement_within_object():
  shape = (20, 40)
  obj = _rect(shape, 2, 18, 4, 36)  # 16 x 32 = 512
  pred = _rect(shape, 0, 20, 0, 14)  # spills outside the object; 10 of its columns are inside
  pred[5:8, 6:9] = False  # a hole, filled by post-processing
  out = postprocess.make_proposals(pred, obj, np.random.default_rng(0))
  assert [rank for rank, *_ in out] == [0, 1]
  _, main, scale, is_object = out[0]
  np.testing.assert_array_equal(main, _rect(shape, 0, 20, 0, 14))
  assert scale == 280 / 512 and not is_object
  _, rest, rest_scale, _ = out[1]
  np.testing.assert_array_equal(rest, _rect(shape, 2, 18, 14, 36))
  assert rest_scale == 352 / 512


def test_proposal_larger_than_object_falls_back_to_object():
  obj = _rect((20, 40), 5, 15, 5, 35)  # 300 px
  pred = _rect((20, 40), 4, 15, 4, 35)  # 341 px: rounded scale 1.1
  out = postprocess.make_proposals(pred, obj, np.random.default_rng(0))
  assert len(out) == 1  # the complement of the object is empty
  rank, main, scale, is_object = out[0]
  assert rank == 0 and is_object and scale == 1.0
  np.testing.assert_array_equal(main, obj)
  pred = _rect((20, 40), 5, 15, 5, 36)  # 310 px: rounded scale 1.0, kept as predicted
  (_, main, scale, is_object), = postprocess.make_proposals(pred, obj, np.random.default_rng(0))
  assert not is_object and scale == 310 / 300 and main.sum() == 310


def test_thin_complement_is_dropped_and_empty_prediction_keeps_the_object():
  obj = _rect((20, 40), 0, 20, 0, 40)  # 800 px
  pred = _rect((20, 40), 0, 20, 0, 37)  # complement 60 px: scale 0.075 -> 0.1, not > 0.1
  out = postprocess.make_proposals(pred, obj, np.random.default_rng(0))
  assert [rank for rank, *_ in out] == [0]
  pred = _rect((20, 40), 0, 20, 0, 35)  # complement 100 px: scale 0.125 -> 0.1, dropped
  assert len(postprocess.make_proposals(pred, obj, np.random.default_rng(0))) == 1
  pred = _rect((20, 40), 0, 20, 0, 33)  # complement 140 px: 0.175 -> 0.2, kept
  assert len(postprocess.make_proposals(pred, obj, np.random.default_rng(0))) == 2
  # An empty prediction yields no proposal; its complement is the whole object (official).
  out = postprocess.make_proposals(np.zeros((20, 40), bool), obj, np.random.default_rng(0))
  assert len(out) == 1 and out[0][0] == 1 and out[0][2] == 1.0


def test_official_preset_keeps_the_holes_of_the_loop_proposal():
  from graco_jax import config_utils
  config = config_utils.load_config(os.path.join(HERE, "..", "..", "configs", "agg_sbd.py:official"))
  assert (config.agg.fill_holes, config.agg.flat_semantic, config.agg.combination) == (
      False, "official", "official")
  default = config_utils.load_config(os.path.join(HERE, "..", "..", "configs", "agg_sbd.py"))
  assert (default.agg.fill_holes, default.agg.flat_semantic) == (True, "scale")
  obj = _rect((20, 20), 0, 20, 0, 20)
  pred = _rect((20, 20), 2, 12, 2, 12)
  pred[5:8, 5:8] = False  # a 9 px hole: 91 px kept, 100 px filled
  rng = np.random.default_rng(0)
  (_, kept, scale, _), (_, rest, _, _) = postprocess.make_proposals(
      pred, obj, rng, min_component_area=50, fill=config.agg.fill_holes)
  np.testing.assert_array_equal(kept, pred)
  assert scale == 91 / 400
  ring = obj & ~_rect((20, 20), 2, 12, 2, 12)  # the complement's large component (300 px)
  np.testing.assert_array_equal(rest, ring)
  (_, filled, scale, _), _ = postprocess.make_proposals(pred, obj, rng, min_component_area=50)
  assert scale == 100 / 400 and filled[6, 6]
