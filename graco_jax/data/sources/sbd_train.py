"""SBD training source: one record per image with every instance (official `SBDDataset`).

Layout (official): DIR/img/<name>.jpg, DIR/inst/<name>.mat (`GTinst.Segmentation`, 0
background, k on instance k), DIR/train.txt with one image name per line. Objects whose mask
fills less than `buggy_mask_thresh` (0.08) of their bounding box are removed (official
"buggy mask" filter). The object is chosen later, after augmentation (`data/sampling.py`), as
the official sampler does, so the record carries the whole label map as 'instances' besides
the shared record fields ('mask' is the union of the kept objects, 'object_id' -1, granularity
1.0: whole objects).

Optional per-image sampling weights (official `samples_scores_path`, gamma 1.25): a JSON file
{"indices": [...], "scores": [...]} or an .npz with the same arrays; image i is drawn with
probability ~ (1 - score_i)^gamma (`sample_weights`).
"""

import json

import numpy as np
from scipy.io import loadmat
from scipy.io.matlab import MatReadError

from graco_jax import io
from graco_jax.data.image_io import read_image
from graco_jax.errors import InputError, MissingInputError


def read_sbd_instances(path: str) -> np.ndarray:
  """int32 [H, W] instance label map of an SBD .mat file."""
  try:
    with io.open_file(path, "rb") as f:
      data = loadmat(f)
    return np.asarray(data["GTinst"][0][0][0], np.int32)
  except (OSError, KeyError, IndexError, ValueError, MatReadError) as e:
    raise InputError(f"{path}: not an SBD instance file (GTinst.Segmentation): {e}") from e


def remove_buggy_masks(instances: np.ndarray, thresh: float = 0.08) -> np.ndarray:
  """Zeroes every object whose area / bounding-box area < thresh (official filter)."""
  out = instances.copy()
  for obj_id in np.unique(instances[instances > 0]):
    ys, xs = np.nonzero(instances == obj_id)
    bbox_area = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    if ys.size / bbox_area < thresh:
      out[instances == obj_id] = 0
  return out


class SBDTrainSource:
  """`SBDTrainSource(root, split='train')`; a grain `RandomAccessDataSource`."""

  def __init__(self, root: str, split: str = "train", buggy_mask_thresh: float = 0.08):
    list_path = io.join(root, f"{split}.txt")
    if not io.isfile(list_path):
      raise MissingInputError(f"{list_path}: SBD image list not found (expected the SBD "
                              "'dataset' folder with img/, inst/ and train.txt)")
    self.names = [line.strip() for line in io.read_text(list_path).splitlines() if line.strip()]
    if not self.names:
      raise InputError(f"{list_path}: empty image list")
    self.root = root
    self.buggy_mask_thresh = buggy_mask_thresh

  def __len__(self) -> int:
    return len(self.names)

  def __repr__(self) -> str:
    return f"SBDTrainSource({self.root!r}, {len(self)} images)"

  def granularities(self) -> np.ndarray:
    """[N] float32: every record is a whole image of objects, granularity 1.0."""
    return np.ones(len(self.names), np.float32)

  def image_ids(self) -> np.ndarray:
    return np.asarray(self.names, object)

  def __getitem__(self, index) -> dict:
    name = self.names[int(index)]
    image_path = io.join(self.root, "img", f"{name}.jpg")
    image = np.round(read_image(image_path) * 255).astype(np.uint8)
    instances = read_sbd_instances(io.join(self.root, "inst", f"{name}.mat"))
    if instances.shape != image.shape[:2]:
      raise InputError(f"{self.root}/inst/{name}.mat: mask {instances.shape} does not match "
                       f"image {image_path} {image.shape[:2]}")
    if self.buggy_mask_thresh > 0:
      instances = remove_buggy_masks(instances, self.buggy_mask_thresh)
    return {"image": image, "mask": (instances > 0).astype(np.int8), "instances": instances,
            "image_id": name, "object_id": -1, "granularity": np.float32(1.0)}


def sample_weights(path: str, num_records: int, gamma: float = 1.25) -> np.ndarray:
  """Per-record sampling probabilities [N] from a scores file (see the module docstring)."""
  try:
    if path.endswith(".npz"):
      with io.open_file(path, "rb") as f, np.load(f) as data:
        indices, scores = data["indices"], data["scores"]
    else:
      data = json.loads(io.read_text(path))
      indices, scores = np.asarray(data["indices"]), np.asarray(data["scores"], np.float64)
  except (OSError, KeyError, ValueError) as e:
    raise InputError(f"{path}: unreadable sample weights file: {e}") from e
  indices = np.asarray(indices, np.int64)
  if indices.size and (indices.min() < 0 or indices.max() >= num_records):
    raise InputError(f"{path}: indices outside [0, {num_records})")
  weights = np.zeros(num_records, np.float64)
  weights[indices] = (1.0 - np.asarray(scores, np.float64)) ** gamma
  if weights.sum() <= 0:
    raise InputError(f"{path}: all sample weights are zero")
  return weights / weights.sum()
