import numpy as np

from graco_jax.training import tensorboard


def test_prediction_grid_draws_clicks_truth_and_prediction():
  image = np.full((2, 6, 8, 3), 0.2, np.float32)
  mask = np.zeros((2, 6, 8), np.int8)
  mask[0, 1:3, 1:3] = 1
  mask[1, 5, 7] = -1
  probs = np.zeros((2, 6, 8), np.float32)
  probs[0, 4, 4] = 0.9
  coords = np.array([[[0, 0], [5, 7]], [[2, 3], [0, 0]]], np.int32)
  is_positive = np.array([[True, False], [True, True]])
  valid = np.array([[True, True], [True, False]])
  grid = tensorboard.prediction_grid(image, mask, probs, coords, is_positive, valid)
  assert grid.shape == (12, 24, 3) and grid.dtype == np.uint8
  clicks, truth, pred = grid[:6, :8], grid[:6, 8:16], grid[:6, 16:]
  np.testing.assert_array_equal(clicks[0, 0], (0, 255, 0))  # positive at (0, 0), 3x3 clipped
  np.testing.assert_array_equal(clicks[1, 1], (0, 255, 0))
  np.testing.assert_array_equal(clicks[5, 7], (255, 0, 0))  # negative at (5, 7)
  np.testing.assert_array_equal(clicks[3, 3], (51, 51, 51))  # 0.2 * 255, untouched
  np.testing.assert_array_equal(truth[1, 1], (26, 153, 26))  # half-way to green
  np.testing.assert_array_equal(truth[4, 4], (51, 51, 51))
  np.testing.assert_array_equal(pred[4, 4], (26, 153, 26))
  np.testing.assert_array_equal(pred[1, 1], (51, 51, 51))
  second = grid[6:, :8]
  np.testing.assert_array_equal(second[2, 3], (0, 255, 0))
  np.testing.assert_array_equal(second[0, 0], (51, 51, 51))  # the invalid click is not drawn
  np.testing.assert_array_equal(grid[6 + 5, 8 + 7], (90, 90, 90))  # ignored: half-way to grey


def test_granularity_histogram_reads_back_in_embedding_buckets(tmp_path):
  from tensorboard.backend.event_processing import event_accumulator
  writer = tensorboard.open_writer(str(tmp_path))
  values = np.array([0.1, 0.15, 0.5, 0.55, 0.55, 1.0], np.float32)
  tensorboard.write_granularities(writer, values, 3)
  writer.close()
  events = event_accumulator.EventAccumulator(str(tmp_path), size_guidance={"histograms": 0})
  events.Reload()
  (h,) = events.Histograms("train/granularity")
  assert h.step == 3 and h.histogram_value.num == 6
  buckets = dict(zip(np.round(h.histogram_value.bucket_limit, 6), h.histogram_value.bucket))
  assert buckets[0.2] == 2 and buckets[0.6] == 3 and buckets[1.0] == 1  # [0.1, 0.2) ... [0.9, 1]
  assert sum(h.histogram_value.bucket) == 6
