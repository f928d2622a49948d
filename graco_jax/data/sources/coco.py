"""COCO-style annotation helpers shared by the JSON sources (pycocotools RLE / polygons)."""

import json

import numpy as np
from pycocotools import mask as mask_utils

from graco_jax import io
from graco_jax.errors import InputError, MissingInputError


def load_coco_json(path: str) -> dict:
  """A COCO annotation file with 'images', 'annotations', 'categories' (errors name the file)."""
  try:
    data = json.loads(io.read_text(path))
  except FileNotFoundError:
    raise MissingInputError(f"{path}: COCO annotation file not found") from None
  except (OSError, ValueError) as e:
    raise InputError(f"{path}: unreadable JSON: {e}") from e
  missing = [k for k in ("images", "annotations", "categories") if k not in data]
  if missing:
    raise InputError(f"{path}: not a COCO annotation file, missing {missing}")
  return data


def annotation_rle(ann: dict, height: int, width: int):
  """Polygon, uncompressed RLE or compressed RLE segmentation -> compressed RLE."""
  segm = ann["segmentation"]
  if isinstance(segm, list):
    return mask_utils.merge(mask_utils.frPyObjects(segm, height, width))
  if isinstance(segm.get("counts"), list):
    return mask_utils.frPyObjects(segm, height, width)
  if isinstance(segm["counts"], str):
    segm = dict(segm, counts=segm["counts"].encode("ascii"))
  return segm


def decode_annotation(ann: dict, height: int, width: int, source: str = "") -> np.ndarray:
  """bool [H, W] mask of one annotation."""
  try:
    return mask_utils.decode(annotation_rle(ann, height, width)).astype(bool)
  except (KeyError, TypeError, ValueError) as e:
    raise InputError(f"{source}: bad segmentation in annotation {ann.get('id')}: {e}") from e
