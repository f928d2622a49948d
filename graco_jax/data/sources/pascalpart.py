"""PascalPart part-level evaluation (official `PascalPartEvaluationDataset`).

Layout: DIR/JPEGImages/<name>.jpg, DIR/Annotations_Part/<name>.mat (`anno.objects[i]` with
`class`, `mask`, `parts[j].part_name`, `parts[j].mask`), DIR/ImageSets/Main/part_val.txt.
One record per part of every object of the selected classes; the paper evaluates the 5 classes
train, bicycle, cow, aeroplane and bus (appendix). Part names may be filtered with the official
rule (the name before the first '_').
"""

import os

import numpy as np
from scipy.io import loadmat

from graco_jax.data.sources.grabcut import read_image_uint8

PAPER_CLASSES = ("train", "bicycle", "cow", "aeroplane", "bus")


def _string(value) -> str:
  """A MATLAB char array as loaded by scipy (nested 1-element arrays) -> str."""
  while isinstance(value, np.ndarray):
    value = value.flat[0]
  return str(value)


def read_pascalpart_objects(path: str) -> list:
  """[(class name, object mask, [(part name, part mask), ...]), ...] of one annotation file."""
  try:
    objects = loadmat(path)["anno"]["objects"][0, 0]
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
    raise ValueError(f"{path}: not a PascalPart annotation file (anno.objects.parts): {e}") from e


class PascalPartSource:
  """`PascalPartSource(root, classes=PAPER_CLASSES, part_name=None, split='val')`."""

  def __init__(self, root: str, classes=PAPER_CLASSES, part_name=None, split: str = "val"):
    list_path = os.path.join(root, "ImageSets", "Main", f"part_{split}.txt")
    if not os.path.isfile(list_path):
      raise FileNotFoundError(f"{list_path}: PascalPart image list not found")
    with open(list_path, encoding="utf-8") as f:
      names = [line.strip() for line in f if line.strip()]
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
    return os.path.join(self.root, "Annotations_Part", f"{name}.mat")

  def __len__(self) -> int:
    return len(self.items)

  def __repr__(self) -> str:
    return f"PascalPartSource({self.root!r}, {len(self)} parts)"

  def __getitem__(self, index) -> dict:
    name, i, j, cls, part = self.items[int(index)]
    image = read_image_uint8(os.path.join(self.root, "JPEGImages", f"{name}.jpg"))
    mask = read_pascalpart_objects(self._ann(name))[i][2][j][1]
    if mask.shape != image.shape[:2]:
      raise ValueError(f"{self._ann(name)}: part mask {mask.shape} does not match image {image.shape[:2]}")
    return {"image": image, "mask": (mask > 0).astype(np.int8), "image_id": name,
            "object_id": i * 1000 + j, "granularity": np.float32(np.nan),
            "class_name": cls, "part_name": part}
