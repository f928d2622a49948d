import jax
import numpy as np
import pytest
from scipy import ndimage

from graco_jax.interaction.distance import edt, squared_edt


# Short axes below, at and off multiples of the offset loop's unroll (8 offsets per pass).
@pytest.mark.parametrize("shape", [(1, 17, 23), (3, 31, 12), (2, 40, 40), (2, 1, 9), (3, 5, 3),
                                   (2, 8, 30), (2, 70, 13)])
def test_edt_equals_scipy_on_random_masks(shape):
  rng = np.random.default_rng(sum(shape))
  density = rng.uniform(0.3, 0.97, size=(shape[0], 1, 1))
  masks = rng.uniform(size=shape) < density
  masks[:, 0, 0] = False  # at least one background pixel
  got = np.asarray(jax.jit(edt)(masks))
  for b in range(shape[0]):
    np.testing.assert_array_equal(got[b], ndimage.distance_transform_edt(masks[b]).astype(np.float32))


def test_edt_single_background_pixel_and_blobs():
  mask = np.ones((1, 9, 14), bool)
  mask[0, 8, 13] = False
  np.testing.assert_array_equal(np.asarray(edt(mask))[0],
                                ndimage.distance_transform_edt(mask[0]).astype(np.float32))
  yy, xx = np.mgrid[:50, :60]
  blob = ((yy - 25) ** 2 / 400 + (xx - 30) ** 2 / 150 < 1)[None]
  np.testing.assert_array_equal(np.asarray(squared_edt(blob))[0],
                                np.rint(ndimage.distance_transform_edt(blob[0]) ** 2).astype(int))


def test_edt_edge_cases_all_false_and_all_true():
  masks = np.stack([np.zeros((6, 7), bool), np.ones((6, 7), bool)])
  got = np.asarray(edt(masks))
  np.testing.assert_array_equal(got[0], 0.0)
  assert np.all(np.isinf(got[1]))  # no background: undefined distance


def test_edt_far_from_background_needs_many_offsets():
  # One background pixel in a corner: the offset loop must run over the whole short axis.
  mask = np.ones((2, 37, 45), bool)
  mask[0, 0, 44] = False
  mask[1, 36, 0] = False
  got = np.asarray(jax.jit(edt)(mask))
  for b in range(2):
    np.testing.assert_array_equal(got[b], ndimage.distance_transform_edt(mask[b]).astype(np.float32))
