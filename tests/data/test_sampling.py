import numpy as np

from graco_jax.data import sampling


def _instances():
  labels = np.zeros((60, 80), np.int32)
  labels[5:30, 5:35] = 1
  labels[35:55, 40:75] = 2
  labels[50:55, 5:10] = 3  # 25 px: below min_object_area
  labels[0:3, 70:80] = -1  # ignore
  return labels


def test_geometric_probs_are_the_official_ones():
  p = sampling.geometric_probs(3, 0.8)
  np.testing.assert_allclose(p, np.array([1, 0.8, 0.64]) / 2.44)


def test_clicks_fall_inside_target_and_outside_for_negatives():
  labels = _instances()
  config = sampling.SamplerConfig(merge_objects_prob=0.0)
  for seed in range(20):
    mask, coords, positive, valid = sampling.sample_target_and_clicks(
        labels, np.random.default_rng(seed), config, capacity=51)
    assert set(np.unique(mask)) <= {-1, 0, 1}
    assert (mask[0:3, 70:80] == -1).all()
    assert mask[50:55, 5:10].max() == 0  # small object removed, never a target
    n = valid.sum()
    assert valid[:n].all() and not valid[n:].any()  # prefix-filled
    ys, xs = coords[valid, 0], coords[valid, 1]
    pos = positive[valid]
    assert pos.sum() >= 1 and pos[:pos.sum()].all()  # positives first, at least one
    assert (mask[ys[pos], xs[pos]] == 1).all()
    assert (mask[ys[~pos], xs[~pos]] == 0).all()
    assert pos.sum() <= 24 and (~pos).sum() <= 24
    assert (mask == 1).sum() in ((labels == 1).sum(), (labels == 2).sum())


def test_merging_targets_two_objects_at_the_configured_rate():
  labels = _instances()
  config = sampling.SamplerConfig(merge_objects_prob=0.5)
  merged = 0
  both = (labels == 1).sum() + (labels == 2).sum()
  for seed in range(200):
    mask, *_ = sampling.sample_target_and_clicks(labels, np.random.default_rng(seed), config, 48)
    merged += int((mask == 1).sum() == both)
  assert 70 <= merged <= 130


def test_positive_click_counts_follow_the_geometric_law():
  labels = np.zeros((40, 40), np.int32)
  labels[5:35, 5:35] = 1
  config = sampling.SamplerConfig(max_num_points=3, prob_gamma=0.5)
  counts = np.zeros(4)
  for seed in range(600):
    _, _, positive, valid = sampling.sample_target_and_clicks(
        labels, np.random.default_rng(seed), config, capacity=6)
    counts[(positive & valid).sum()] += 1
  np.testing.assert_allclose(counts[1:] / counts.sum(), [4 / 7, 2 / 7, 1 / 7], atol=0.06)


def test_no_object_gives_no_positive_click():
  labels = np.zeros((30, 30), np.int32)
  mask, coords, positive, valid = sampling.sample_target_and_clicks(
      labels, np.random.default_rng(0), sampling.SamplerConfig(), 48)
  assert mask.sum() == 0 and not (positive & valid).any()
