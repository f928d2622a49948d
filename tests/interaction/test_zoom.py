"""Zoom-in + flip predictor against a numpy port of the official ZoomIn / AddHorizontalFlip."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from graco_jax import predictor as predictor_lib
from graco_jax.interaction import zoom
from graco_jax.evaluation.noc import run_click_protocol
from graco_jax.interaction.clicks import ClickSet, add_click, empty_clicks
from graco_jax.interaction.encoding import disk_maps
from graco_jax.model.resize import bilinear_matrix


# --- numpy reference (official semantics, float64, Python round) ---

def np_object_roi(mask, clicks, expansion=1.4, min_crop=200):
  mask = mask.copy()
  for y, x, positive in clicks:
    if positive:
      mask[int(y), int(x)] = True
  rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
  rmin, rmax, cmin, cmax = rows[0], rows[-1], cols[0], cols[-1]
  rc, cc = 0.5 * (rmin + rmax), 0.5 * (cmin + cmax)
  h = max(expansion * (rmax - rmin + 1), min_crop)
  w = max(expansion * (cmax - cmin + 1), min_crop)
  box = int(round(rc - 0.5 * h)), int(round(rc + 0.5 * h)), int(round(cc - 0.5 * w)), int(round(cc + 0.5 * w))
  H, W = mask.shape
  return max(0, box[0]), min(H - 1, box[1]), max(0, box[2]), min(W - 1, box[3])


def np_resize(x, out_h, out_w):
  my = bilinear_matrix(out_h, x.shape[0], True).astype(np.float64)
  mx = bilinear_matrix(out_w, x.shape[1], True).astype(np.float64)
  return np.einsum("ih,hwc,jw->ijc", my, x, mx)


class NpZoomIn:
  def __init__(self, target, min_crop):
    self.target, self.min_crop = target, min_crop
    self.roi, self.prev_probs = None, None

  def predict(self, image, clicks, prev, logits_fn):
    H, W = prev.shape
    current = None
    if self.prev_probs is not None and (self.prev_probs > 0.5).sum() > 0:
      current = np_object_roi(self.prev_probs > 0.5, clicks, min_crop=self.min_crop)
    if current is None:
      current = (0, H - 1, 0, W - 1)
    update = self.roi is None
    if not update:
      r = self.roi
      update = any(p and (y < r[0] or y >= r[1] or x < r[2] or x >= r[3]) for y, x, p in clicks)
    if not update:
      def seg(a, b, c, d):
        return max(0, min(b, d) - max(a, c) + 1) / max(1e-6, max(b, d) - min(a, c) + 1)
      update = seg(*current[:2], *self.roi[:2]) * seg(*current[2:], *self.roi[2:]) < 0.5
    if update:
      self.roi = current
    r0, r1, c0, c1 = self.roi
    th, tw = self.target
    crop = np_resize(np.concatenate([image, prev[..., None]], -1)[r0:r1 + 1, c0:c1 + 1], th, tw)
    tclicks = [(th * (y - r0) / (r1 - r0 + 1), tw * (x - c0) / (c1 - c0 + 1), p) for y, x, p in clicks]
    fclicks = [(y, tw - x - 1, p) for y, x, p in tclicks]
    logits = 0.5 * (logits_fn(crop, tclicks) + logits_fn(crop[:, ::-1], fclicks)[:, ::-1])
    probs = np_resize(1 / (1 + np.exp(-logits))[..., None], r1 - r0 + 1, c1 - c0 + 1)[..., 0]
    full = np.zeros((H, W))
    full[r0:r1 + 1, c0:c1 + 1] = probs
    self.prev_probs = full
    return full


def np_logits(crop, clicks):
  h, w = crop.shape[:2]
  yy, xx = np.mgrid[:h, :w]
  out = 8.0 * (crop[..., 0] - 0.5) + 1.0 * crop[..., 3]
  for y, x, p in clicks:
    out += (6.0 if p else -6.0) * ((yy - y) ** 2 + (xx - x) ** 2 <= 9.0)
  return out


def jax_logits(variables, images, clicks, prev, granularity):
  maps = disk_maps(clicks, images.shape[1], images.shape[2], 3.0)
  out = 8.0 * (images[..., 0] - 0.5) + 1.0 * prev[..., 0] + 6.0 * maps[..., 0] - 6.0 * maps[..., 1]
  return out[..., None]


def test_object_roi_matches_official_rounding_and_clamping():
  rng = np.random.default_rng(0)
  H, W = 90, 70
  masks = np.zeros((40, H, W), bool)
  for i in range(40):
    y0, x0 = rng.integers(0, H - 2), rng.integers(0, W - 2)
    masks[i, y0:y0 + rng.integers(1, 30), x0:x0 + rng.integers(1, 30)] = True
  clicks = add_click(empty_clicks(40, 2), rng.integers(0, H, 40), rng.integers(0, W, 40),
                     rng.uniform(size=40) < 0.5)
  sizes = np.tile([H, W], (40, 1))
  for min_crop in (5, 20):
    tables = (zoom._half_extent_table(H, 1.4, min_crop), zoom._half_extent_table(W, 1.4, min_crop))
    got = np.asarray(jax.jit(zoom.object_roi)(masks, clicks, sizes, tables))
    for i in range(40):
      y, x = np.asarray(clicks.coords[i, 0])
      ref = np_object_roi(masks[i], [(y, x, bool(clicks.is_positive[i, 0]))], min_crop=min_crop)
      assert tuple(got[i]) == ref, (i, min_crop)


def np_expand_clamped(lo, hi, size, expansion=1.4, min_crop=200):
  """Official expand_bbox + clamp_bbox on one axis, vectorised numpy float64 (np.round is
  Python round: half to even on the float64 value)."""
  center = 0.5 * (lo + hi)
  extent = np.maximum(expansion * (hi - lo + 1), min_crop)
  return (np.maximum(np.round(center - 0.5 * extent), 0).astype(np.int64),
          np.minimum(np.round(center + 0.5 * extent), size - 1).astype(np.int64))


def _expand_clamped(lo, hi, size, min_crop=200):
  lo_out, hi_out = jax.jit(zoom._expand)(np.asarray(lo, np.int32), np.asarray(hi, np.int32),
                                         zoom._half_extent_table(size, 1.4, min_crop))
  return np.maximum(np.asarray(lo_out), 0), np.minimum(np.asarray(hi_out), size - 1)


def test_numpy_box_reference_is_the_python_float_rule():
  rng = np.random.default_rng(1)
  lo = rng.integers(0, 2000, 500)
  hi = lo + rng.integers(0, 2000, 500)
  ref = np_expand_clamped(lo, hi, 4096)
  for i in range(500):
    a, b = int(lo[i]), int(hi[i])
    center, extent = 0.5 * (a + b), max(1.4 * (b - a + 1), 200)
    assert (max(round(center - 0.5 * extent), 0), min(round(center + 0.5 * extent), 4095)) == (
        ref[0][i], ref[1][i])


def test_expanded_box_is_float64_exact_for_every_box():
  # 1.4 * 175 = 244.99999999999997: float32 arithmetic is one pixel off for 31 lengths < 1200.
  for size in (200, 481, 1024):
    lo, hi = np.triu_indices(size)  # every lo <= hi < size
    got, ref = _expand_clamped(lo, hi, size), np_expand_clamped(lo, hi, size)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
  for size in (60, 481):  # a small minimum crop: the 1.4 * n products decide everywhere
    lo, hi = np.triu_indices(size)
    got, ref = _expand_clamped(lo, hi, size, 5), np_expand_clamped(lo, hi, size, min_crop=5)
    np.testing.assert_array_equal(np.stack(got), np.stack(ref))


def test_expanded_box_is_float64_exact_up_to_4096():
  rng = np.random.default_rng(0)
  for size in [4096] + rng.integers(2, 4097, 7).tolist():
    a, b = rng.integers(0, size, 50000), rng.integers(0, size, 50000)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    got, ref = _expand_clamped(lo, hi, size), np_expand_clamped(lo, hi, size)
    np.testing.assert_array_equal(np.stack(got), np.stack(ref))


def test_crop_and_paste_match_torch_align_corners_resize():
  rng = np.random.default_rng(1)
  x = rng.uniform(size=(2, 30, 40, 2)).astype(np.float32)
  roi = np.array([[3, 20, 5, 38], [0, 29, 10, 10]], np.int32)
  crop = np.asarray(jax.jit(zoom.crop_and_resize, static_argnums=2)(x, roi, (16, 12)))
  for b, (r0, r1, c0, c1) in enumerate(roi):
    np.testing.assert_allclose(crop[b], np_resize(x[b, r0:r1 + 1, c0:c1 + 1], 16, 12), atol=1e-5)
  back = np.asarray(jax.jit(zoom.paste_back, static_argnums=(2, 3))(crop, roi, 30, 40))
  for b, (r0, r1, c0, c1) in enumerate(roi):
    ref = np.zeros((30, 40, 2))
    ref[r0:r1 + 1, c0:c1 + 1] = np_resize(crop[b], r1 - r0 + 1, c1 - c0 + 1)
    np.testing.assert_allclose(back[b], ref, atol=1e-5)


def test_zoom_in_protocol_matches_numpy_port_of_official_transforms():
  rng = np.random.default_rng(2)
  images, masks = [], []
  for h, w in [(60, 80), (75, 50), (64, 64)]:
    yy, xx = np.mgrid[:h, :w]
    mask = (((yy - h * 0.4) / (h * 0.1)) ** 2 + ((xx - w * 0.6) / (w * 0.1)) ** 2 < 1).astype(np.int8)
    near = ((yy - h * 0.4) / (h * 0.2)) ** 2 + ((xx - w * 0.6) / (w * 0.2)) ** 2 < 1
    prior = np.where((mask == 1) ^ (near & (rng.uniform(size=(h, w)) < 0.15)), 0.6, 0.4)
    images.append(np.repeat(prior[..., None], 3, -1).astype(np.float32))
    masks.append(mask)
  predictor = predictor_lib.zoom_in_flip(jax_logits, target_size=(24, 24), min_crop_size=12)
  result = run_click_protocol(predictor, images, masks, max_clicks=5, pred_thr=0.5,
                              target_iou=None, bucket_multiple=80, batch_size=3)
  crops = []
  for i, (image, mask) in enumerate(zip(images, masks)):
    ref = NpZoomIn((24, 24), 12)
    prev = np.zeros(mask.shape)
    for k in range(5):
      clicks = list(zip(result["y"][i, :k + 1], result["x"][i, :k + 1], result["positive"][i, :k + 1]))
      prev = ref.predict(image.astype(np.float64), clicks, prev, np_logits)
      pred = prev > 0.5
      iou = np.sum(pred & (mask == 1)) / np.sum(pred | (mask == 1))
      np.testing.assert_allclose(result["ious"][i, k], iou, atol=2e-3, err_msg=f"{i} {k}")
    crops.append(ref.roi != (0, mask.shape[0] - 1, 0, mask.shape[1] - 1))
  assert any(crops)  # the zoom-in did crop


@pytest.mark.parametrize("capacity", [1, 2, 24])
def test_click_transform_is_the_official_float64_value_at_any_click_capacity(capacity):
  """th (y - rmin) / rh and the flipped tw - x' - 1 in float64 (official), cast to float32,
  exactly, whatever the number of click slots (XLA once turned the division into an inexact
  reciprocal multiply only when there were 2 or more slots)."""
  rng = np.random.default_rng(capacity)
  batch = 64
  r0, c0 = rng.integers(0, 300, batch), rng.integers(0, 300, batch)
  roi = np.stack([r0, r0 + rng.integers(1, 700, batch), c0, c0 + rng.integers(1, 700, batch)],
                 axis=1).astype(np.int32)
  coords = rng.integers(0, 1000, (batch, capacity, 2)).astype(np.int32)
  clicks = ClickSet(jnp.asarray(coords), jnp.ones((batch, capacity), bool),
                    jnp.ones((batch, capacity), bool))
  rh = (roi[:, 1] - roi[:, 0] + 1)[:, None].astype(np.float64)
  rw = (roi[:, 3] - roi[:, 2] + 1)[:, None].astype(np.float64)
  y = 448 * (coords[..., 0] - roi[:, 0:1]) / rh
  x = 448 * (coords[..., 1] - roi[:, 2:3]) / rw
  for flip, want_x in ((False, x), (True, 448 - x - 1)):
    got = jax.jit(lambda c, r: zoom.transform_clicks(c, r, (448, 448), flip=flip).coords)(
        clicks, jnp.asarray(roi))
    np.testing.assert_array_equal(np.asarray(got[..., 0]), y.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(got[..., 1]), want_x.astype(np.float32))
