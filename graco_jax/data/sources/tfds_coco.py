"""COCO-style instance masks from a prepared TFDS dataset (array_record, random access).

TFDS datasets with instance masks (TFDS 4.9 catalogue; `coco/2017` itself holds boxes only):
  coco/2017_panoptic  'panoptic_image' (PNG of segment ids, id = R + 256 G + 256^2 B) and
                      'panoptic_objects' (id, bbox, label, is_crowd): an object is where the PNG
                      holds its id. Labels < 80 are the things (the panoptic categories list
                      them before the stuff); stuff segments (sky, road) are left out.
  lvis                'objects' with one PNG 'segmentation' mask each (1203 classes).
Crowd regions (is_crowd) are left out. The dataset is read through TFDS's numpy data source
from its files alone (`builder_from_files`), so reading needs no TensorFlow; it must have been
built with `--file_format=array_record` (README: Data).

Sources (grain `RandomAccessDataSource`s, the record contract of the other sources):
  TFDSInstanceImages(name, split, data_dir)[i]: one image with all its objects as 'instances'
    (int32 [H, W], 0 background, k on object k), for object-level training like SBD; objects
    are painted largest first, so a small object lying on a larger one stays visible.
  TFDSInstanceSource(name, split, data_dir)[i]: one object, 'mask' int8 [H, W], for evaluation.
"""

import numpy as np

from graco_jax.errors import InputError, MissingInputError

NUM_COCO_THINGS = 80


def open_data_source(name: str, split: str, data_dir: str | None = None):
  """The TFDS numpy data source of a prepared dataset; errors say how to build it."""
  import tensorflow_datasets as tfds
  try:
    builder = tfds.core.read_only_builder.builder_from_files(name, data_dir=data_dir or None)
  except tfds.core.registered.DatasetNotFoundError as e:
    raise MissingInputError(
        f"TFDS dataset {name!r} not found in {data_dir or 'the default TFDS data dir'}; build it "
        f"with `tfds build {name} --file_format=array_record"
        f"{' --data_dir=' + data_dir if data_dir else ''}`") from e
  file_format = getattr(builder.info.file_format, "value", None)
  if file_format != "array_record":
    raise InputError(f"TFDS dataset {name!r} is stored as {file_format}; random access needs "
                     "array_record: rebuild it with --file_format=array_record")
  return builder.as_data_source(split=split)


def _binary(mask) -> np.ndarray:
  mask = np.asarray(mask)
  return (mask[..., 0] if mask.ndim == 3 else mask) > 0


def object_masks(example: dict, name: str = "") -> tuple[list, list]:
  """(bool [H, W] masks, annotation ids) of the usable objects of one decoded TFDS example."""
  if "panoptic_image" in example:
    rgb = np.asarray(example["panoptic_image"], np.int64)
    ids = rgb[..., 0] + 256 * rgb[..., 1] + 256 ** 2 * rgb[..., 2]
    objects = example["panoptic_objects"]
    keep = [k for k in range(len(objects["id"]))
            if not objects["is_crowd"][k] and objects["label"][k] < NUM_COCO_THINGS]
    return [ids == objects["id"][k] for k in keep], [int(objects["id"][k]) for k in keep]
  objects = example.get("objects", {})
  masks = objects.get("segmentation", objects.get("mask"))
  if masks is None:
    raise InputError(f"TFDS dataset {name!r} has no instance masks (objects/segmentation or "
                     "panoptic_image); coco/2017 holds boxes only: use coco/2017_panoptic or lvis")
  crowd = objects.get("is_crowd", np.zeros(len(masks), bool))
  ids = objects.get("id", np.arange(len(masks)))
  keep = [k for k in range(len(masks)) if not crowd[k]]
  return [_binary(masks[k]) for k in keep], [int(ids[k]) for k in keep]


def _image_id(example: dict, index: int) -> str:
  return str(example.get("image/id", index))


class TFDSInstanceImages:
  """`TFDSInstanceImages('coco/2017_panoptic', 'train', data_dir)`; image-level records."""

  def __init__(self, name: str, split: str = "train", data_dir: str | None = None):
    self.name, self.split = name, split
    self.data = open_data_source(name, split, data_dir)

  def __len__(self) -> int:
    return len(self.data)

  def __repr__(self) -> str:
    return f"{type(self).__name__}({self.name!r}, {self.split!r}, {len(self)} images)"

  def __getitem__(self, index) -> dict:
    example = self.data[int(index)]
    image = np.asarray(example["image"], np.uint8)
    masks, _ = object_masks(example, self.name)
    instances = np.zeros(image.shape[:2], np.int32)
    for k in sorted(range(len(masks)), key=lambda k: -int(masks[k].sum())):
      instances[masks[k]] = k + 1
    return {"image": image, "mask": (instances > 0).astype(np.int8), "instances": instances,
            "image_id": _image_id(example, int(index)), "object_id": -1,
            "granularity": np.float32(1.0)}


class TFDSInstanceSource:
  """`TFDSInstanceSource('coco/2017_panoptic', 'validation', data_dir)`; one record per object
  of at least `min_area` pixels. Listing the objects decodes every example once (use a sliced
  split, e.g. 'validation[:500]', for a quick run)."""

  def __init__(self, name: str, split: str = "validation", data_dir: str | None = None,
               min_area: int = 1):
    self.name, self.split = name, split
    self.data = open_data_source(name, split, data_dir)
    self.items = []
    for i in range(len(self.data)):
      masks, _ = object_masks(self.data[i], name)
      self.items += [(i, k) for k, m in enumerate(masks) if m.sum() >= min_area]
    if not self.items:
      raise InputError(f"TFDS dataset {name!r} split {split!r}: no object masks")

  def __len__(self) -> int:
    return len(self.items)

  def __repr__(self) -> str:
    return f"{type(self).__name__}({self.name!r}, {self.split!r}, {len(self)} instances)"

  def __getitem__(self, index) -> dict:
    i, k = self.items[int(index)]
    example = self.data[i]
    masks, ids = object_masks(example, self.name)
    return {"image": np.asarray(example["image"], np.uint8),
            "mask": masks[k].astype(np.int8), "image_id": _image_id(example, i),
            "object_id": ids[k], "granularity": np.float32(1.0)}
