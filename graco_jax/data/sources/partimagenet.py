"""PartImageNet validation parts (1,206 images, 5,626 parts), from its COCO JSON.

Layout: DIR/images/<split>/<file_name> and DIR/annotations/<split>.json (COCO, one category per
part, e.g. supercategory 'Quadruped', name 'Head'). As in the official evaluation (which reads
per-pixel category PNGs), one record is one part category of one image: the union of that
category's annotations. Optional filters follow the official class / part names (lower case).
"""


import numpy as np

from graco_jax import io
from graco_jax.data.sources.coco import load_coco_json, decode_annotation
from graco_jax.data.image_io import read_image_uint8
from graco_jax.errors import InputError


def _class_and_part(category) -> tuple:
  words = category["name"].split()
  if len(words) >= 2:
    return words[0].lower(), words[1].lower()
  return str(category.get("supercategory", "")).lower(), category["name"].lower()


class PartImageNetSource:
  """`PartImageNetSource(root, split='val', class_name=None, part_name=None)`."""

  def __init__(self, root: str, split: str = "val", class_name=None, part_name=None):
    self.root, self.split = root, split
    self.json_path = io.join(root, "annotations", f"{split}.json")
    data = load_coco_json(self.json_path)
    self.images = {img["id"]: img for img in data["images"]}
    categories = {c["id"]: c for c in data["categories"]}
    groups = {}
    for ann in data["annotations"]:
      groups.setdefault((ann["image_id"], ann["category_id"]), []).append(ann)
    self.items = []
    for (image_id, category_id), anns in sorted(groups.items()):
      cls, part = _class_and_part(categories[category_id])
      if (class_name is None or cls == class_name) and (part_name is None or part == part_name):
        self.items.append((image_id, category_id, f"{cls} {part}", anns))

  def __len__(self) -> int:
    return len(self.items)

  def __repr__(self) -> str:
    return f"PartImageNetSource({self.root!r}, {len(self)} parts)"

  def __getitem__(self, index) -> dict:
    image_id, category_id, name, anns = self.items[int(index)]
    info = self.images[image_id]
    image_path = io.join(self.root, "images", self.split, info["file_name"])
    image = read_image_uint8(image_path)
    h, w = image.shape[:2]
    if (info.get("height", h), info.get("width", w)) != (h, w):
      raise InputError(f"{image_path}: size {(h, w)} differs from {self.json_path} "
                       f"({info['height']}, {info['width']})")
    mask = np.zeros((h, w), bool)
    for ann in anns:
      mask |= decode_annotation(ann, h, w, self.json_path)
    return {"image": image, "mask": mask.astype(np.int8), "image_id": str(info["file_name"]),
            "object_id": int(category_id), "granularity": np.float32(np.nan), "part_name": name}
