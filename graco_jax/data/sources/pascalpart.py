"""PascalPart parts: evaluation (official `PascalPartEvaluationDataset`) and GCL training with
GT part masks (official `PascalPartFMGDataset`, GraCo w/ GT of Table 1).

Layout: DIR/JPEGImages/<name>.jpg, DIR/Annotations_Part/<name>.mat (`anno.objects[i]` with
`class`, `mask`, `parts[j].part_name`, `parts[j].mask`), DIR/ImageSets/Main/part_val.txt
(evaluation) and DIR/ImageSets/Main/train.txt (training, the VOC2010 list the official loader
reads).
Evaluation (`PascalPartSource`): one record per part of every object of the selected classes;
the paper evaluates the 5 classes train, bicycle, cow, aeroplane and bus (appendix). Part names
may be filtered with the official rule (the name before the first '_').
Training (`PascalPartTrainParts`): one record per object (granularity 1.0) and per part of it
(granularity `part_granularity`), all classes, as the official loader's candidates.
"""


import numpy as np
from scipy.io import loadmat

from graco_jax import io
from graco_jax.data.image_io import read_image_uint8
from graco_jax.errors import InputError, MissingInputError

PAPER_CLASSES = ("train", "bicycle", "cow", "aeroplane", "bus")


def _string(value) -> str:
  """A MATLAB char array as loaded by scipy (nested 1-element arrays) -> str."""
  while isinstance(value, np.ndarray):
    value = value.flat[0]
  return str(value)


def read_pascalpart_objects(path: str) -> list:
  """[(class name, object mask, [(part name, part mask), ...]), ...] of one annotation file."""
  try:
    with io.open_file(path, "rb") as f:
      objects = loadmat(f)["anno"]["objects"][0, 0]
    out = []
    for i in range(objects.shape[1]):
      obj = objects[0, i]
      parts = obj["parts"]
      part_list = []
      if parts.size:
        for j in range(parts.shape[1]):
          part_list.append((_string(parts["part_name"][0, j]), np.asarray(parts["mask"][0, j])))
      out.append((_string(obj["class"]), np.asarray(obj["mask"]), part_list))
    return out
  except (OSError, KeyError, IndexError, ValueError, TypeError) as e:
    raise InputError(f"{path}: not a PascalPart annotation file (anno.objects.parts): {e}") from e


def read_image_list(root: str, list_name: str) -> list:
  """Image names of DIR/ImageSets/Main/<list_name>.txt, one a line."""
  list_path = io.join(root, "ImageSets", "Main", f"{list_name}.txt")
  if not io.isfile(list_path):
    raise MissingInputError(f"{list_path}: PascalPart image list not found")
  return [line.strip() for line in io.read_text(list_path).splitlines() if line.strip()]


class PascalPartSource:
  """`PascalPartSource(root, classes=PAPER_CLASSES, part_name=None, split='val')`."""

  def __init__(self, root: str, classes=PAPER_CLASSES, part_name=None, split: str = "val"):
    names = read_image_list(root, f"part_{split}")
    self.root = root
    classes = None if classes is None else set(classes)
    self.items = []
    for name in names:
      for i, (cls, _, parts) in enumerate(read_pascalpart_objects(self._ann(name))):
        if classes is not None and cls not in classes:
          continue
        for j, (part, _) in enumerate(parts):
          if part_name is None or part.split("_")[0] == part_name:
            self.items.append((name, i, j, cls, part))

  def _ann(self, name):
    return io.join(self.root, "Annotations_Part", f"{name}.mat")

  def __len__(self) -> int:
    return len(self.items)

  def __repr__(self) -> str:
    return f"PascalPartSource({self.root!r}, {len(self)} parts)"

  def __getitem__(self, index) -> dict:
    name, i, j, cls, part = self.items[int(index)]
    image = read_image_uint8(io.join(self.root, "JPEGImages", f"{name}.jpg"))
    mask = read_pascalpart_objects(self._ann(name))[i][2][j][1]
    if mask.shape != image.shape[:2]:
      raise InputError(f"{self._ann(name)}: part mask {mask.shape} does not match image {image.shape[:2]}")
    return {"image": image, "mask": (mask > 0).astype(np.int8), "image_id": name,
            "object_id": i * 1000 + j, "granularity": np.float32(np.nan),
            "class_name": cls, "part_name": part}


def part_granularity(part_area: int, object_area: int) -> float:
  """Official `_get_gra_list`: max(round(part / object area, 1), 0.1).

  numpy rounding (half to even after scaling by 10), as the official float64 ratio gets:
  3 / 20 -> 0.2, where Python's round(0.15, 1) gives 0.1.
  """
  return max(float(np.round(np.float64(part_area) / np.float64(object_area), 1)), 0.1)


class PascalPartTrainParts:
  """`PascalPartTrainParts(root, split='train', classes=None, min_area=0)`: GT part masks with
  granularity for GCL training.

  Lists DIR/ImageSets/Main/<split>.txt like the official loader and, for every object of the
  selected classes, yields the whole object (granularity 1.0) and each of its parts
  (`part_granularity` of the part and object areas). Masks with fewer than `min_area` pixels
  are left out (an empty mask always: the official area count fails on it); the official loader
  filters only after augmentation (`min_object_area`, done here by the sampler).
  Granularities are computed from the annotations at construction (no image is decoded), so
  `granularities()` serves inverse-granularity sampling. Records: the shared layout plus
  'class_name' and 'part_name' (the class name for a whole object, as the official loader
  names it); 'object_id' = 1000 * object index + part index + 1, 1000 * object index for the
  whole object.
  """

  def __init__(self, root: str, split: str = "train", classes=None, min_area: int = 0):
    self.root = root
    classes = None if classes is None else set(classes)
    min_area = max(int(min_area), 1)
    self.items = []
    for name in read_image_list(root, split):
      for i, (cls, obj_mask, parts) in enumerate(read_pascalpart_objects(self._ann(name))):
        if classes is not None and cls not in classes:
          continue
        obj_area = int(np.count_nonzero(obj_mask))
        if obj_area < min_area:
          continue
        self.items.append((name, i, -1, cls, cls, 1.0))
        for j, (part, part_mask) in enumerate(parts):
          area = int(np.count_nonzero(part_mask))
          if area >= min_area:
            self.items.append((name, i, j, cls, part, part_granularity(area, obj_area)))

  def _ann(self, name):
    return io.join(self.root, "Annotations_Part", f"{name}.mat")

  def __len__(self) -> int:
    return len(self.items)

  def __repr__(self) -> str:
    return f"PascalPartTrainParts({self.root!r}, {len(self)} objects and parts)"

  def granularities(self) -> np.ndarray:
    """[N] float32 granularity of every record, without reading images."""
    return np.asarray([item[5] for item in self.items], np.float32)

  def image_ids(self) -> np.ndarray:
    """[N] image name of every record, without reading images."""
    return np.asarray([item[0] for item in self.items], object)

  def __getitem__(self, index) -> dict:
    name, i, j, cls, part, granularity = self.items[int(index)]
    image = read_image_uint8(io.join(self.root, "JPEGImages", f"{name}.jpg"))
    _, obj_mask, parts = read_pascalpart_objects(self._ann(name))[i]
    mask = obj_mask if j < 0 else parts[j][1]
    if mask.shape != image.shape[:2]:
      raise InputError(f"{self._ann(name)}: mask {mask.shape} does not match image {image.shape[:2]}")
    return {"image": image, "mask": (mask > 0).astype(np.int8), "image_id": name,
            "object_id": i * 1000 + j + 1, "granularity": np.float32(granularity),
            "class_name": cls, "part_name": part}
