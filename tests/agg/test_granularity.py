"""Granularity estimator: erosion for the semantic click, peak-difference ratio, combinations."""

import numpy as np
import pytest
from scipy import ndimage

from graco_jax.agg import granularity


def test_click_region_erodes_by_ceil_tenth_sqrt_area():
  m = np.zeros((30, 30), bool)
  m[5:25, 5:25] = True  # area 400: radius ceil(0.1 * 20) = 2
  expected = np.zeros((30, 30), bool)
  expected[7:23, 7:23] = True
  np.testing.assert_array_equal(granularity.click_region(m), expected)
  m = np.zeros((30, 30), bool)
  m[0:10, 0:10] = True  # area 100, radius 1; the image border counts as foreground (OpenCV)
  expected = np.zeros((30, 30), bool)
  expected[0:9, 0:9] = True
  np.testing.assert_array_equal(granularity.click_region(m), expected)
  line = np.zeros((30, 30), bool)
  line[10, 3:20] = True  # erodes to nothing: the mask itself
  np.testing.assert_array_equal(granularity.click_region(line), line)


def test_click_region_matches_square_structuring_element():
  rng = np.random.default_rng(0)
  m = ndimage.binary_opening(rng.uniform(size=(60, 60)) > 0.3, iterations=2)
  m[0] = False
  m[-1] = False
  m[:, 0] = False
  m[:, -1] = False
  r = int(np.ceil(0.1 * np.sqrt(m.sum())))
  expected = ndimage.binary_erosion(m, np.ones((2 * r + 1, 2 * r + 1), bool))
  np.testing.assert_array_equal(granularity.click_region(m), expected if expected.any() else m)


def test_semantic_granularity_is_peak_difference_ratio():
  probs = np.array([[0.1, 0.5, 0.9], [0.2, 0.6, 0.3]])
  obj = np.ones((2, 3), bool)
  part = np.array([[False, True, False], [False, True, True]])
  assert granularity.semantic_granularity(probs, part, obj, scale=0.5) == pytest.approx(
      (0.6 - 0.3) / (0.9 - 0.1))
  # A flat map over the object: the scale stands in.
  assert granularity.semantic_granularity(np.ones((2, 3)), part, obj, scale=0.5) == 0.5


def test_flat_object_map_gives_the_official_inf_and_nan():
  obj = np.array([[True, True, False], [True, True, False]])
  probs = np.array([[0.4, 0.4, 0.9], [0.4, 0.4, 0.1]], np.float32)  # flat over the object
  spills = np.array([[False, True, True], [False, False, False]])  # range 0.5 outside it
  inside = np.array([[True, True, False], [False, False, False]])
  with np.errstate(divide="ignore", invalid="ignore"):  # the official float32 division
    official = [min(float(np.ptp(probs[m]) / np.ptp(probs[obj])), 1.0) for m in (spills, inside)]
  assert official[0] == 1.0 and np.isnan(official[1])
  assert granularity.semantic_granularity(probs, spills, obj, 0.5, flat="official") == 1.0
  assert np.isnan(granularity.semantic_granularity(probs, inside, obj, 0.5, flat="official"))
  assert granularity.semantic_granularity(probs, inside, obj, 0.5) == 0.5  # ours
  with pytest.raises(ValueError, match="flat semantic"):
    granularity.semantic_granularity(probs, inside, obj, 0.5, flat="zero")


def test_nan_semantic_leaves_the_scale_bin():
  # Official blend: `sem <= 1.0 and |scale - sem| < 0.1` fails on NaN, the scale bin stays.
  assert granularity.combine(0.34, float("nan"), combination="official") == 0.3
  assert granularity.combine(0.34, float("nan")) == 0.3
  assert granularity.combine(0.45, 0.45) == 0.4  # np.round: the tie 4.5 goes to even


def test_combinations():
  assert granularity.combine(1 / 3, 15 / 47) == 0.3  # 0.3262
  assert granularity.combine(2 / 3, 31 / 47) == 0.7  # 0.6631
  assert granularity.combine(0.2, 0.9, lam=0.0) == 0.2
  assert granularity.combine(0.2, 0.9, lam=1.0) == 0.9
  assert granularity.combine(0.01, 0.02) == 0.1  # the 0.1 floor
  assert granularity.combine(1.2, 1.3) == 1.0  # clipped raw values
  # Official: the scale bin whatever the semantic value.
  assert granularity.combine(0.34, 0.9, combination="official") == 0.3
  assert granularity.combine(0.04, 0.9, combination="official") == 0.1
  with pytest.raises(ValueError, match="combination"):
    granularity.combine(0.3, 0.3, combination="mean")
