import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

from graco_jax.interaction.clicks import add_click, empty_clicks
from graco_jax.interaction.simulate import next_click_eval, next_click_train


def _square(h=10, w=10, top=2, left=3, size=5):
  m = np.zeros((h, w), bool)
  m[top:top + size, left:left + size] = True
  return m


def _eval(pred, gt, not_ignore=None, clicks=None):
  pred, gt = np.asarray(pred)[None], np.asarray(gt)[None]
  not_ignore = np.ones_like(gt) if not_ignore is None else np.asarray(not_ignore)[None]
  clicks = empty_clicks(1, 4) if clicks is None else clicks
  y, x, pos = next_click_eval(pred, gt, not_ignore, clicks)
  return int(y[0]), int(x[0]), bool(pos[0])


def test_first_click_at_the_object_centre():
  assert _eval(np.zeros((10, 10), bool), _square()) == (4, 5, True)


def test_clicked_pixel_is_excluded_and_ties_go_row_major():
  clicks = add_click(empty_clicks(1, 4), jnp.array([4]), jnp.array([5]), jnp.array([True]))
  # The 8 pixels at distance 2 tie; the first in row-major order wins.
  assert _eval(np.zeros((10, 10), bool), _square(), clicks=clicks) == (3, 4, True)


def test_perfect_prediction_gives_negative_click_at_origin():
  gt = _square()
  assert _eval(gt, gt) == (0, 0, False)


def test_equal_error_maxima_give_a_negative_click():
  gt = np.zeros((12, 12), bool)
  gt[1:4, 1:4] = True  # missed: false negative with max distance 2
  pred = np.zeros((12, 12), bool)
  pred[7:10, 7:10] = True  # false positive of the same size
  assert _eval(pred, gt) == (8, 8, False)


def test_image_border_counts_as_border():
  gt = np.zeros((10, 10), bool)
  gt[0:3, :] = True  # object touching the top, left and right borders
  assert _eval(np.zeros_like(gt), gt) == (1, 1, True)


def test_ignored_pixels_are_not_errors():
  gt = _square()
  not_ignore = np.ones_like(gt)
  not_ignore[:, 3:5] = False  # left two columns of the object ignored
  # Remaining false negatives: rows 2..6, cols 5..7, the ignored part acting as border:
  # distance 2 on column 6, rows 3..5; the first in row-major order is (3, 6).
  assert _eval(np.zeros_like(gt), gt, not_ignore) == (3, 6, True)


def _reference_eval(pred, gt, not_ignore, clicked):
  fn = gt & ~pred & not_ignore
  fp = ~gt & pred & not_ignore
  fn_dt = ndimage.distance_transform_edt(np.pad(fn, 1))[1:-1, 1:-1] * ~clicked
  fp_dt = ndimage.distance_transform_edt(np.pad(fp, 1))[1:-1, 1:-1] * ~clicked
  positive = fn_dt.max() > fp_dt.max()
  dt = fn_dt if positive else fp_dt
  ys, xs = np.where(dt == dt.max())
  return ys[0], xs[0], positive


def test_eval_rule_matches_numpy_reference_on_random_batches():
  rng = np.random.default_rng(3)
  b, h, w = 6, 23, 31
  yy, xx = np.mgrid[:h, :w]
  gt = np.stack([(yy - rng.uniform(5, 18)) ** 2 + (xx - rng.uniform(5, 25)) ** 2 < rng.uniform(9, 80)
                 for _ in range(b)])
  pred = gt ^ (rng.uniform(size=gt.shape) < 0.08)
  not_ignore = rng.uniform(size=gt.shape) > 0.05
  ys, xs = rng.integers(0, h, (b, 3)), rng.integers(0, w, (b, 3))
  clicks = empty_clicks(b, 5)
  for k in range(3):
    clicks = add_click(clicks, ys[:, k], xs[:, k], np.ones(b, bool))
  y, x, pos = jax.jit(next_click_eval)(pred, gt, not_ignore, clicks)
  for i in range(b):
    clicked = np.zeros((h, w), bool)
    clicked[ys[i], xs[i]] = True
    assert (int(y[i]), int(x[i]), bool(pos[i])) == _reference_eval(pred[i], gt[i], not_ignore[i], clicked)


def test_train_rule_samples_uniformly_among_the_inner_points():
  gt = _square()[None]
  pred = np.zeros_like(gt)
  keys = jax.random.split(jax.random.key(0), 900)
  sample = jax.jit(jax.vmap(lambda k: next_click_train(k, pred, gt, np.ones_like(gt))))
  y, x, pos, found = sample(keys)
  assert np.all(pos) and np.all(found)
  # Distances in the 5x5 square: 3 at the centre, 2 on the ring around it, 1 outside;
  # 'larger than 3 / 2' keeps the 3x3 block rows 3..5, cols 4..6.
  points = np.stack([np.asarray(y)[:, 0], np.asarray(x)[:, 0]], 1)
  counts = {tuple(p): n for p, n in zip(*np.unique(points, axis=0, return_counts=True))}
  assert set(counts) == {(r, c) for r in range(3, 6) for c in range(4, 7)}
  assert min(counts.values()) > 60  # 100 expected each


def test_train_rule_negative_click_and_no_error():
  gt = _square()[None]
  pred = gt.copy()
  pred[0, 7:10, 0:3] = True  # a 3x3 false positive
  y, x, pos, found = next_click_train(jax.random.key(1), pred, gt, np.ones_like(gt))
  assert (int(y[0]), int(x[0]), bool(pos[0]), bool(found[0])) == (8, 1, False, True)
  _, _, _, found = next_click_train(jax.random.key(1), gt, gt, np.ones_like(gt))
  assert not bool(found[0])
