"""SA-1B evaluation subset (paper Table 2): the first 1000 images, 5 non-overlapping masks each.

Layout (official `SA1BDataset`): DIR/images/<id>.jpg and DIR/annotations/<id>.json (the SA-1B
per-image JSON: 'image' {height, width}, 'annotations' [{'segmentation': COCO RLE}, ...]).
"First" is the natural order of the ids (sa_2 before sa_10). Per image, masks are visited in a
seeded random order and kept when they overlap none already kept, up to 5 (the official code draws
with an unseeded `random` and maps the picks back to annotations by indices of a list it pops from,
so its selection is neither reproducible nor exactly what it intends; this one is both).
"""

import json
import re

import numpy as np
from pycocotools import mask as mask_utils

from graco_jax import io
from graco_jax.data.sources.coco import annotation_rle
from graco_jax.data.image_io import read_image_uint8
from graco_jax.errors import InputError, MissingInputError


def _natural_key(name):
  return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def read_sa1b_json(path: str) -> dict:
  try:
    data = json.loads(io.read_text(path))
    data["image"]["height"], data["image"]["width"], data["annotations"]
    return data
  except FileNotFoundError:
    raise MissingInputError(f"{path}: SA-1B annotation file not found") from None
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise InputError(f"{path}: not an SA-1B annotation file: {e}") from e


def select_non_overlapping(rles, rng, max_masks=5, min_area=1) -> list:
  """Indices of up to max_masks pairwise disjoint masks, visited in rng's random order."""
  areas = mask_utils.area(rles) if rles else []
  kept = []
  for i in rng.permutation(len(rles)):
    if areas[i] < min_area:
      continue
    if all(mask_utils.area(mask_utils.merge([rles[i], rles[j]], intersect=True)) == 0 for j in kept):
      kept.append(int(i))
      if len(kept) == max_masks:
        break
  return sorted(kept)


class SA1BSource:
  """`SA1BSource(root, num_images=1000, masks_per_image=5, seed=0)`."""

  def __init__(self, root: str, num_images: int = 1000, masks_per_image: int = 5, seed: int = 0,
               images_dir: str = "images", annotations_dir: str = "annotations"):
    self.root, self.images_dir = root, images_dir
    ann_dir = io.join(root, annotations_dir)
    if not io.isdir(ann_dir):
      raise MissingInputError(f"{ann_dir}: SA-1B annotation folder not found")
    ids = sorted((f[:-5] for f in io.listdir(ann_dir) if f.endswith(".json")), key=_natural_key)
    if not ids:
      raise InputError(f"{ann_dir}: no annotation files")
    self.items = []
    for order, image_id in enumerate(ids[:num_images]):
      path = io.join(ann_dir, f"{image_id}.json")
      data = read_sa1b_json(path)
      h, w = data["image"]["height"], data["image"]["width"]
      rles = [annotation_rle(a, h, w) for a in data["annotations"]]
      rng = np.random.default_rng([seed, order])
      for k in select_non_overlapping(rles, rng, masks_per_image):
        self.items.append((image_id, path, k))

  def __len__(self) -> int:
    return len(self.items)

  def __repr__(self) -> str:
    return f"SA1BSource({self.root!r}, {len(self)} masks)"

  def __getitem__(self, index) -> dict:
    image_id, path, k = self.items[int(index)]
    data = read_sa1b_json(path)
    image = read_image_uint8(io.join(self.root, self.images_dir, f"{image_id}.jpg"))
    h, w = data["image"]["height"], data["image"]["width"]
    if image.shape[:2] != (h, w):
      raise InputError(f"{path}: size {(h, w)} differs from its image {image.shape[:2]}")
    mask = mask_utils.decode(annotation_rle(data["annotations"][k], h, w))
    return {"image": image, "mask": (mask > 0).astype(np.int8), "image_id": image_id,
            "object_id": int(data["annotations"][k].get("id", k)),
            "granularity": np.float32(np.nan)}
