import numpy as np

from graco_jax.evaluation import noc as noc_lib


def _trajectories():
  # Three instances, 5 clicks: reaches 0.90 at click 2; reaches 0.85 at click 3 and 0.90 at 5;
  # never reaches 0.85.
  return np.array([
      [0.50, 0.91, 0.91, 0.91, 0.91],
      [0.60, 0.80, 0.85, 0.88, 0.90],
      [0.70, 0.70, 0.75, 0.80, 0.84],
  ])


def test_noc_counts_the_limit_when_never_reached():
  ious = _trajectories()
  np.testing.assert_array_equal(noc_lib.noc_per_instance(ious, 0.85), [2, 3, 5])
  np.testing.assert_array_equal(noc_lib.noc_per_instance(ious, 0.90), [2, 5, 5])
  assert noc_lib.noc(ious, 0.85) == (2 + 3 + 5) / 3
  assert noc_lib.noc(ious, 0.90) == 4.0
  assert noc_lib.noc(ious, 0.90, max_clicks=20) == (2 + 5 + 20) / 3


def test_over_max_counts_instances_at_the_limit_like_the_official_code():
  ious = _trajectories()
  # The official count is NoC == max_clicks, so instance 1 reaching 0.90 exactly at click 5
  # also counts.
  assert noc_lib.over_max(ious, 0.90) == 2
  assert noc_lib.over_max(ious, 0.85) == 1


def test_iou_at_k_and_per_click_means():
  ious = _trajectories()
  assert np.isclose(noc_lib.iou_at(ious, 1), 0.6)
  np.testing.assert_allclose(noc_lib.mean_iou_per_click(ious),
                             [0.6, 0.80333333, 0.83666667, 0.86333333, 0.88333333])
  summary = noc_lib.summarize(ious, max_clicks=5)
  assert summary["noc@85"] == noc_lib.noc(ious, 0.85)
  assert summary[">=5@90"] == 2
  assert summary["num_instances"] == 3


def test_oracle_pick_fewest_clicks_then_best_first_iou():
  # click_index is the official 0-based index where each granularity stopped.
  trace = dict(
      click_index=np.array([[4, 2, 2, 6], [19, 19, 19, 19]]),
      inter=np.array([[[5], [6], [7], [9]], [[1], [3], [3], [2]]]),
      union=np.array([[[10], [10], [10], [10]], [[10], [10], [10], [10]]]),
  )
  # Instance 0: granularities 1 and 2 tie at 3 clicks, 2 has the better IoU@1.
  # Instance 1: all tie, 1 and 2 share the best IoU@1: the first wins.
  np.testing.assert_array_equal(noc_lib._select_oracle(trace), [2, 1])
