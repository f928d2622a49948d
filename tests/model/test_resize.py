"""Resizes with torch semantics: hand-computed cases and an independent scipy computation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.ndimage

from graco_jax.model.resize import (bicubic_matrix, bilinear_matrix, resize_bicubic,
                                    resize_bilinear)


def test_bilinear_half_pixel_upsampling_by_hand():
  # torch: src = (dst + 0.5) / 2 - 0.5 -> -0.25 (clamped to 0), 0.25, 0.75, 1.25 (edge).
  out = bilinear_matrix(4, 2, align_corners=False) @ np.array([0.0, 1.0])
  np.testing.assert_allclose(out, [0.0, 0.25, 0.75, 1.0], atol=1e-7)


def test_bilinear_align_corners_equals_scipy_zoom():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(1, 7, 9, 2)).astype(np.float32)
  ours = np.asarray(resize_bilinear(jnp.asarray(x), (20, 13), align_corners=True))
  ref = scipy.ndimage.zoom(x[0], (20 / 7, 13 / 9, 1), order=1, grid_mode=False, mode="nearest")
  np.testing.assert_allclose(ours[0], ref, atol=1e-5)


def test_bicubic_by_hand():
  # 2 -> 4 samples, align_corners=False: t = 0.75 at the first output (src = -0.25, base -1).
  a = -0.75
  def near(x): return ((a + 2) * x - (a + 3)) * x * x + 1
  def far(x): return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
  t = 0.75
  w = [far(t + 1), near(t), near(1 - t), far(2 - t)]  # taps at -2, -1, 0, 1 -> clamped 0, 0, 0, 1
  expected_row0 = [w[0] + w[1] + w[2], w[3]]
  np.testing.assert_allclose(bicubic_matrix(4, 2)[0], expected_row0, atol=1e-6)
  np.testing.assert_allclose(bicubic_matrix(4, 2).sum(axis=1), 1.0, atol=1e-6)


def test_same_size_is_identity():
  x = jnp.arange(2 * 3 * 4 * 1, dtype=jnp.float32).reshape(2, 3, 4, 1)
  np.testing.assert_array_equal(np.asarray(resize_bilinear(x, (3, 4), True)), np.asarray(x))
  np.testing.assert_array_equal(np.asarray(resize_bicubic(x[0], (3, 4))), np.asarray(x[0]))


def test_bicubic_matches_values_computed_by_torch():
  # torch.nn.functional.interpolate(x, size=(5, 3), mode='bicubic', align_corners=False) on
  # x = arange(12).reshape(3, 4) ** 1.5, computed once with torch 2.13 (CPU).
  x = (np.arange(12, dtype=np.float32).reshape(3, 4) ** 1.5)[..., None]
  expected = [[-0.68345153, 0.72112256, 3.6262116], [2.2617104, 4.9099474, 8.704185],
              [8.395388, 12.878359, 18.032598], [18.036755, 23.706053, 29.892818],
              [24.59353, 30.838871, 37.577606]]
  np.testing.assert_allclose(np.asarray(resize_bicubic(jnp.asarray(x), (5, 3)))[..., 0],
                             expected, rtol=1e-5, atol=1e-5)


def test_bilinear_taps_equal_the_matrix_product_and_its_gradient():
  rng = np.random.default_rng(3)
  for (h, w), out_hw, align in (((7, 9), (20, 13), True), ((7, 9), (20, 13), False),
                                ((14, 14), (112, 112), False), ((12, 10), (5, 4), False)):
    x = rng.normal(size=(2, h, w, 3)).astype(np.float32)
    my = bilinear_matrix(out_hw[0], h, align).astype(np.float64)
    mx = bilinear_matrix(out_hw[1], w, align).astype(np.float64)
    reference = np.einsum("oh,bhwc,pw->bopc", my, x.astype(np.float64), mx)
    ours = resize_bilinear(jnp.asarray(x), out_hw, align)
    assert ours.shape == (2,) + out_hw + (3,)
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-6)
    # The custom gradient is the transposed product: sum(resize(x) * g) differentiated by x.
    g = rng.normal(size=ours.shape).astype(np.float32)
    grad = jax.grad(lambda x: jnp.sum(resize_bilinear(x, out_hw, align) * g))(jnp.asarray(x))
    np.testing.assert_allclose(grad, np.einsum("oh,bopc,pw->bhwc", my, g, mx),
                               rtol=1e-5, atol=1e-5)


def test_bilinear_resize_equals_torch_interpolate():
  torch = pytest.importorskip("torch")
  rng = np.random.default_rng(4)
  x = rng.normal(size=(2, 14, 28, 5)).astype(np.float32)
  for align in (False, True):
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(x).permute(0, 3, 1, 2), size=(112, 56), mode="bilinear",
        align_corners=align).permute(0, 2, 3, 1).numpy()
    ours = np.asarray(resize_bilinear(jnp.asarray(x), (112, 56), align))
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-6)
