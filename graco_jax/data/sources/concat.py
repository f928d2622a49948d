"""Several sources as one, and the per-record accessors that samplers read from any source."""

import bisect

import numpy as np


class ConcatSource:
  """Several sources as one (GT + AGG); `granularities()` concatenated when all have them."""

  def __init__(self, sources):
    self.sources = list(sources)
    self.offsets = np.cumsum([0] + [len(s) for s in self.sources]).tolist()

  def __len__(self):
    return self.offsets[-1]

  def __getitem__(self, index):
    index = int(index)
    k = bisect.bisect_right(self.offsets, index) - 1
    return self.sources[k][index - self.offsets[k]]

  def granularities(self) -> np.ndarray:
    return np.concatenate([source_granularities(s) for s in self.sources])

  def __repr__(self):
    return f"ConcatSource({self.sources!r})"


def source_granularities(source) -> np.ndarray:
  """[N] float32 granularity of every record; reads all records when the source has no
  `granularities()` (fine for small sources)."""
  if hasattr(source, "granularities"):
    return np.asarray(source.granularities(), np.float32)
  return np.asarray([source[i]["granularity"] for i in range(len(source))], np.float32)


def source_image_ids(source) -> np.ndarray:
  """[N] image id (str) of every record; reads all records when the source has no
  `image_ids()` (fine for small sources)."""
  if hasattr(source, "image_ids"):
    return np.asarray(source.image_ids(), object)
  return np.asarray([str(source[i]["image_id"]) for i in range(len(source))], object)
