"""TensorBoard summaries of a training run, written by tensorboardX (no TensorFlow needed).

The loop writes under WORKDIR/tb: every log interval the `train/*` scalars of metrics.csv (the
learning rate among them) and `train/granularity`, the histogram of the granularities the
sampler drew since the last log, in the ten 0.1-wide buckets of the granularity embedding; every
`train.image_every` steps `train/predictions`, the `prediction_grid` of the first
`train.num_images` examples of the batch.

WORKDIR may be local or an object store: `gs://` and `s3://` event files go through
graco_jax.io (etils.epath) instead of tensorboardX's own google-cloud-storage / boto3 writers, so
whatever backend serves the checkpoints serves the events. Objects cannot be appended to: the
event file is kept in memory and rewritten whole at every flush (tensorboardX's GCS writer does
the same), which is cheap for scalars and histograms and grows with every logged image.
"""

import numpy as np
import tensorboardX
from tensorboardX import record_writer

from graco_jax import io

GRANULARITY_BINS = np.linspace(0.0, 1.0, 11)
_POSITIVE, _NEGATIVE, _IGNORED = (0, 255, 0), (255, 0, 0), (128, 128, 128)


class _ObjectEventFile:
  """A write-only event file on an object store: each flush puts everything written so far."""

  def __init__(self, path):
    self._path, self._data = path, bytearray()

  def write(self, data):
    self._data += data

  def flush(self):
    io.atomic_write_bytes(self._path, bytes(self._data))

  def close(self):
    self.flush()


class _ObjectEventFiles:
  """tensorboardX writer factory for URIs (record_writer.register_writer_factory)."""

  def open(self, path):
    return _ObjectEventFile(path)

  def directory_check(self, path):
    io.makedirs(path)


for _scheme in ("gs", "s3"):
  record_writer.register_writer_factory(_scheme, _ObjectEventFiles())


def open_writer(logdir: str) -> tensorboardX.SummaryWriter:
  return tensorboardX.SummaryWriter(logdir, flush_secs=60)


def write_granularities(writer, granularities, step: int) -> None:
  writer.add_histogram("train/granularity", np.asarray(granularities, np.float64), step,
                       bins=GRANULARITY_BINS)


def _overlay(image, where, colour, alpha=0.5):
  out = image.copy()
  out[where] = (1 - alpha) * out[where] + alpha * np.asarray(colour, np.float32)
  return out


def prediction_grid(image, mask, probs, coords, is_positive, valid) -> np.ndarray:
  """uint8 [k * H, 3 * W, 3]: one row per example, columns (image with its clicks as 3x3
  squares, green positive and red negative; ground truth in green; prediction probs > 0.5 in
  green), ignored pixels grey. Shapes: image [k, H, W, 3] float in [0, 1], mask [k, H, W]
  (1 / 0 / -1), probs [k, H, W], coords [k, K, 2] (y, x), is_positive / valid [k, K]."""
  image = np.clip(np.asarray(image, np.float32), 0.0, 1.0) * 255.0
  _, height, width, _ = image.shape
  rows = []
  for i in range(image.shape[0]):
    clicked = image[i].copy()
    for (y, x), positive in zip(coords[i][valid[i]], is_positive[i][valid[i]]):
      clicked[max(y - 1, 0):min(y + 2, height), max(x - 1, 0):min(x + 2, width)] = (
          _POSITIVE if positive else _NEGATIVE)
    ignored = mask[i] < 0
    truth = _overlay(_overlay(image[i], mask[i] > 0, _POSITIVE), ignored, _IGNORED)
    predicted = _overlay(_overlay(image[i], probs[i] > 0.5, _POSITIVE), ignored, _IGNORED)
    rows.append(np.concatenate([clicked, truth, predicted], axis=1))
  return np.rint(np.concatenate(rows, axis=0)).astype(np.uint8)
