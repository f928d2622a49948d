"""The on-device protocol against an independent numpy implementation of the official one."""

import glob
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from graco_jax.evaluation import noc as noc_lib
from graco_jax.interaction.encoding import disk_maps

GRABCUT = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "grabcut")
GRABCUT = os.environ.get("GRACO_GRABCUT", os.path.normpath(GRABCUT))


# A deterministic predictor whose every value is a dyadic rational (exact in float32, so the
# numpy reference thresholds exactly like XLA): channel 0 of the image carries a noisy object
# prior in {0.25, 0.75}; clicks add disks (positive radius grows with granularity); the previous
# mask nudges the prediction.

def toy_predict_fn(images, clicks, prev_probs, granularity):
  height, width = images.shape[1:3]
  probs = images[..., 0]
  if granularity is None:
    pos = disk_maps(clicks, height, width, 4.0)[..., 0]
  else:  # per-instance radius: evaluate each distinct radius and pick
    radius = 2.0 + jnp.round(granularity * 10) / 2
    pos = jnp.zeros_like(probs)
    for r in np.arange(2.5, 7.5, 0.5):
      pos = jnp.where((radius == r)[:, None, None], disk_maps(clicks, height, width, r)[..., 0], pos)
  neg = disk_maps(clicks, height, width, 2.0)[..., 1]
  probs = probs + 0.5 * pos - 0.5 * neg + 0.125 * (prev_probs[..., 0] > 0.5) - 0.0625
  return jnp.clip(probs, 0.0, 1.0)[..., None]


def np_predict(prior, clicks, prev, gra):
  h, w = prior.shape
  yy, xx = np.mgrid[:h, :w]
  radius = 4.0 if gra is None else 2.0 + np.round(np.float32(gra) * np.float32(10)) / 2
  pos = np.zeros((h, w), bool)
  neg = np.zeros((h, w), bool)
  for y, x, positive in clicks:
    r = radius if positive else 2.0
    disk = (yy - y) ** 2 + (xx - x) ** 2 <= r * r
    if positive:
      pos |= disk
    else:
      neg |= disk
  probs = prior + 0.5 * pos - 0.5 * neg + 0.125 * (prev > 0.5) - 0.0625
  return np.clip(probs, 0.0, 1.0)


def np_next_click(pred, mask, clicks):
  """Official Clicker._get_next_click with scipy's exact EDT."""
  gt, not_ignore = mask == 1, mask != -1
  fn = gt & ~pred & not_ignore
  fp = ~gt & pred & not_ignore
  not_clicked = np.ones_like(gt)
  for y, x, _ in clicks:
    not_clicked[y, x] = False
  fn_dt = ndimage.distance_transform_edt(np.pad(fn, 1))[1:-1, 1:-1] * not_clicked
  fp_dt = ndimage.distance_transform_edt(np.pad(fp, 1))[1:-1, 1:-1] * not_clicked
  positive = fn_dt.max() > fp_dt.max()
  ys, xs = np.where((fn_dt if positive else fp_dt) == (fn_dt if positive else fp_dt).max())
  return int(ys[0]), int(xs[0]), bool(positive)


def np_iou(mask, pred):
  keep = mask != -1
  return np.sum(pred & (mask == 1) & keep) / np.sum((pred | (mask == 1)) & keep)


def np_evaluate_sample(prior, mask, gra, max_clicks, thr, target, min_num=None):
  """Official evaluate_sample loop (oracle variant when min_num is given)."""
  clicks, ious = [], []
  pred = np.zeros(mask.shape, bool)
  prev = np.zeros(mask.shape, np.float32)
  for k in range(max_clicks):
    clicks.append(np_next_click(pred, mask, clicks))
    prev = np_predict(prior, clicks, prev, gra)
    pred = prev > thr
    ious.append(np_iou(mask, pred))
    if ious[-1] >= target:
      break
    if min_num is not None and min_num <= max_clicks and k + 1 > min_num:
      break
  return clicks, np.array(ious), k


def np_evaluate_oracle(prior, mask, max_clicks, thr, target):
  min_num, runs = 100, []
  for g in range(1, 11):
    clicks, ious, k = np_evaluate_sample(prior, mask, round(g * 0.1, 1), max_clicks, thr, target,
                                         min_num)
    if ious[-1] >= target:
      min_num = min(min_num, k + 1)
    runs.append((clicks, ious, k))
  ks = np.array([r[2] for r in runs])
  tied = np.flatnonzero(ks == ks.min())
  best = tied[np.argmax([runs[i][1][0] for i in tied])]
  return runs[best][0], runs[best][1], best, sum(len(r[1]) for r in runs)


def _load_grabcut(step, limit=None):
  names = sorted(glob.glob(os.path.join(GRABCUT, "boundary_GT", "*.bmp")))[:limit]
  if not names:
    pytest.skip(f"real GrabCut data not found under {GRABCUT}")
  rng = np.random.default_rng(0)
  priors, masks = [], []
  for name in names:
    raw = np.asarray(Image.open(name))
    raw = raw[..., 0] if raw.ndim == 3 else raw
    mask = np.where(raw == 128, -1, (raw > 128).astype(np.int8)).astype(np.int8)[::step, ::step]
    h, w = mask.shape
    # Structured errors: a few random disks flip the prior.
    yy, xx = np.mgrid[:h, :w]
    flip = np.zeros((h, w), bool)
    for _ in range(3):
      cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(2, 7)
      flip |= (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
    obj = (mask == 1) ^ flip
    priors.append(np.where(obj, 0.75, 0.25).astype(np.float32))
    masks.append(mask)
  return priors, masks


def _images(priors):
  return [np.repeat(p[..., None], 3, axis=-1) for p in priors]


def _check_against_reference(result, refs, max_clicks):
  for i, (clicks, ious) in enumerate(refs):
    n = len(ious)
    assert result["num_clicks"][i] == n, i
    np.testing.assert_array_equal(result["ious"][i, :n], ious, err_msg=f"instance {i}")
    np.testing.assert_array_equal(result["ious"][i, n:], ious[-1])
    got = list(zip(result["y"][i, :n].tolist(), result["x"][i, :n].tolist(),
                   result["positive"][i, :n].tolist()))
    assert got == clicks, i
    assert np.all(result["y"][i, n:] == -1)


def test_protocol_matches_numpy_reference_on_grabcut():
  priors, masks = _load_grabcut(step=5)
  refs = [np_evaluate_sample(p, m, None, 20, 0.49, 0.9)[:2] for p, m in zip(priors, masks)]
  result = noc_lib.run_click_protocol(toy_predict_fn, _images(priors), masks, max_clicks=20,
                                      pred_thr=0.49, bucket_multiple=64, batch_size=16)
  _check_against_reference(result, refs, 20)
  # The official per-instance stop: one forward per click placed.
  np.testing.assert_array_equal(result["num_forwards"], [len(r[1]) for r in refs])
  for got, (_, ious) in zip(noc_lib.to_official_ious(result), refs):
    np.testing.assert_array_equal(got, ious)
  ref_ious = np.stack([np.pad(r[1], (0, 20 - len(r[1])), mode="edge") for r in refs])
  for thr in (0.85, 0.9):
    assert noc_lib.noc(result["ious"], thr) == noc_lib.noc(ref_ious, thr)


def test_granularity_oracle_matches_numpy_reference():
  priors, masks = _load_grabcut(step=8, limit=12)
  refs = [np_evaluate_oracle(p, m, 8, 0.5, 0.85) for p, m in zip(priors, masks)]
  result = noc_lib.run_click_protocol(toy_predict_fn, _images(priors), masks, max_clicks=8,
                                      pred_thr=0.5, granularity="oracle", target_iou=0.85,
                                      bucket_multiple=32, batch_size=12)
  _check_against_reference(result, [r[:2] for r in refs], 8)
  np.testing.assert_array_equal(result["num_forwards"], [r[3] for r in refs])
  np.testing.assert_allclose(result["granularity"], [round(0.1 * (r[2] + 1), 1) for r in refs],
                             rtol=1e-6)


def test_protocol_matches_numpy_reference_on_full_size_grabcut():
  priors, masks = _load_grabcut(step=1, limit=4)
  refs = [np_evaluate_sample(p, m, None, 8, 0.49, 0.9)[:2] for p, m in zip(priors, masks)]
  result = noc_lib.run_click_protocol(toy_predict_fn, _images(priors), masks, max_clicks=8,
                                      pred_thr=0.49, bucket_multiple=1, batch_size=4)
  _check_against_reference(result, refs, 8)


def test_granularity_curves_are_mean_iou_after_k_clicks_per_granularity():
  priors, masks = _load_grabcut(step=8, limit=6)
  grans = (0.2, 0.6, 1.0)
  curves = noc_lib.granularity_curves(toy_predict_fn, _images(priors), masks, grans,
                                      clicks=(1, 3), pred_thr=0.5, bucket_multiple=96)
  assert curves["granularity"] == list(grans)
  for key, k in (("miou@1", 1), ("miou@3", 3)):
    expected = [np.mean([np_evaluate_sample(p, m, g, 3, 0.5, 1.01)[1][k - 1]
                         for p, m in zip(priors, masks)]) for g in grans]
    np.testing.assert_allclose(curves[key], expected, rtol=1e-12)


def test_stopped_instances_keep_their_state_and_a_perfect_prediction_still_clicks():
  # Channel 0 is the ground truth: the first prediction is perfect for instance 0, so it stops
  # at click 1 and later slots repeat its IoU; with target None, a perfect prediction gets the
  # official negative click at (0, 0).
  masks = [np.zeros((20, 24), np.int8), np.zeros((20, 24), np.int8)]
  masks[0][5:12, 6:15] = 1
  masks[1][3:9, 2:7] = 1
  images = [np.repeat((m == 1).astype(np.float32)[..., None], 3, -1) for m in masks]
  perfect = lambda images, clicks, prev, gra: images[..., :1]
  result = noc_lib.run_click_protocol(perfect, images, masks, max_clicks=4, bucket_multiple=8)
  np.testing.assert_array_equal(result["num_clicks"], [1, 1])
  np.testing.assert_array_equal(result["ious"], np.ones((2, 4)))
  assert result["y"][0].tolist() == [8, -1, -1, -1]  # centre of rows 5..11, then stopped
  again = noc_lib.run_click_protocol(perfect, images, masks, max_clicks=3, target_iou=None,
                                     bucket_multiple=8)
  assert list(zip(again["y"][1], again["x"][1], again["positive"][1])) == [
      (5, 4, True), (0, 0, False), (0, 0, False)]


def _counting(predict_fn, calls):
  """predict_fn that counts its executions on the host (one per jitted predictor call)."""
  def counted(images, clicks, prev, gra):
    jax.debug.callback(lambda: calls.append(1))
    return predict_fn(images, clicks, prev, gra)
  return counted


def test_perfect_predictor_runs_once_per_instance_and_padding_slots_never_run():
  # Three instances in a pool of up to 8 slots: each stops at click 1, so the predictor runs
  # once (a batch of 3) instead of 20 times on 8 slots.
  masks = [np.zeros((20, 24), np.int8), np.zeros((16, 30), np.int8), np.zeros((24, 24), np.int8)]
  masks[0][5:12, 6:15] = 1
  masks[1][3:9, 2:17] = 1
  masks[2][10:20, 4:9] = 1
  images = [np.repeat((m == 1).astype(np.float32)[..., None], 3, -1) for m in masks]
  calls, stats = [], {}
  perfect = _counting(lambda images, clicks, prev, gra: images[..., :1], calls)
  result = noc_lib.run_click_protocol(perfect, images, masks, max_clicks=20, batch_size=8,
                                      stats=stats)
  np.testing.assert_array_equal(result["num_clicks"], [1, 1, 1])
  np.testing.assert_array_equal(result["num_forwards"], [1, 1, 1])
  assert len(calls) == 1
  assert stats == dict(programs=1, steps=1, network_rows=3)


def test_the_drain_moves_the_last_instances_to_a_smaller_pool_once():
  # Instance i turns perfect at click stop[i]. Pool of 4, one queue program (drain):
  # steps 1-3 on 4 slots (instance 4 takes the slot of instance 0 at step 3; after it only
  # instances 3 and 4 are clicking), then steps 4-11 on 2 slots, although instance 3 stops at
  # step 4 (one shrink per bucket): 12 + 16 = 28 rows for 19 forwards.
  stop = [2, 2, 2, 4, 9]
  masks = [np.zeros((12, 14), np.int8) for _ in stop]
  for i, m in enumerate(masks):
    m[2:9, 3 + i % 3:11] = 1
  images = [np.stack([m == 1, np.full(m.shape, k / 100), np.zeros(m.shape)], -1).astype(np.float32)
            for m, k in zip(masks, stop)]

  def stops_at_k(images, clicks, prev, gra):
    ready = clicks.count >= jnp.round(images[:, 0, 0, 1] * 100).astype(jnp.int32)
    return jnp.where(ready[:, None, None, None], images[..., :1], 0.0)

  calls, stats = [], {}
  result = noc_lib.run_click_protocol(_counting(stops_at_k, calls), images, masks,
                                      batch_size=4, stats=stats)
  np.testing.assert_array_equal(result["num_clicks"], stop)
  assert stats == dict(programs=2, steps=11, network_rows=28)
  assert len(calls) == 11
  unshrunk_stats = {}
  unshrunk = noc_lib.run_click_protocol(stops_at_k, images, masks, batch_size=4,
                                        shrink_pool=False, stats=unshrunk_stats)
  assert unshrunk_stats == dict(programs=1, steps=11, network_rows=44)
  for key in result:
    np.testing.assert_array_equal(result[key], unshrunk[key], key)


def test_continuous_batching_equals_one_instance_at_a_time():
  # Mixed sizes in one bucket, stops from click 1 to 8, three granularities run one after the
  # other per slot; 3 slots refilled from queues of 4 over several programs.
  priors, masks = _load_grabcut(step=8, limit=12)
  images, gra = _images(priors), np.round(np.linspace(0.1, 1.0, 12), 1)
  kw = dict(max_clicks=8, pred_thr=0.5, target_iou=0.85)
  stats = {}
  pooled = noc_lib.run_click_protocol(toy_predict_fn, images, masks, granularity="oracle",
                                      batch_size=3, queue_size=4, stats=stats, **kw)
  alone = [noc_lib.run_click_protocol(toy_predict_fn, [im], [m], granularity="oracle",
                                      batch_size=1, bucket_multiple=1, **kw)
           for im, m in zip(images, masks)]
  for key in pooled:
    np.testing.assert_array_equal(pooled[key], np.concatenate([a[key] for a in alone]), key)
  assert len(set(pooled["num_forwards"].tolist())) > 3  # stop times differ
  # Three queue programs, then the last instance alone in a pool of 1 (a fourth program).
  assert stats["programs"] == 4
  # Every step but those of the last drain runs 3 instances still clicking.
  assert stats["network_rows"] - pooled["num_forwards"].sum() < 3 * max(pooled["num_forwards"])
  unshrunk_stats = {}
  unshrunk = noc_lib.run_click_protocol(toy_predict_fn, images, masks, granularity="oracle",
                                        batch_size=3, queue_size=4, shrink_pool=False,
                                        stats=unshrunk_stats, **kw)
  for key in pooled:
    np.testing.assert_array_equal(pooled[key], unshrunk[key], key)
  assert unshrunk_stats["programs"] == 3 and unshrunk_stats["steps"] == stats["steps"]
  assert unshrunk_stats["network_rows"] > stats["network_rows"]
  fixed = noc_lib.run_click_protocol(toy_predict_fn, images, masks, granularity=gra,
                                     batch_size=3, queue_size=4, **kw)
  refs = [np_evaluate_sample(p, m, g, 8, 0.5, 0.85)[:2]
          for p, m, g in zip(priors, masks, gra)]
  _check_against_reference(fixed, refs, 8)
