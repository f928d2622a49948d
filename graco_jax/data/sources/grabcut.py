"""GrabCut (50 images, one object each) and the shared image-folder / mask-folder reader.

Layout (official `GrabCutDataset`): DIR/data_GT/<name>.jpg|png|bmp and DIR/boundary_GT/<name>.bmp
with 0 background, 128 an ignored boundary band, 255 the object (official: 128 -> -1, > 128 -> 1).
"""

import os

import numpy as np

from graco_jax import io
from graco_jax.data.image_io import read_image_uint8, read_mask
from graco_jax.errors import InputError, MissingInputError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


def grabcut_mask(raw: np.ndarray) -> np.ndarray:
  """Official GrabCut/Berkeley decoding of a uint8 mask: 128 ignored, > 128 object."""
  return np.where(raw == 128, -1, raw > 128).astype(np.int8)


def _stems(folder: str, extensions) -> dict:
  if not io.isdir(folder):
    raise MissingInputError(f"{folder}: folder not found")
  files = {}
  for name in sorted(io.listdir(folder)):
    stem, ext = os.path.splitext(name)
    if ext.lower() in extensions:
      files.setdefault(stem, io.join(folder, name))
  return files


class PairedFolderSource:
  """One record per image of DIR/<images_dir> with the same-stem mask in DIR/<masks_dir>, one
  object per image; `decode(path) -> int8 [H, W]` turns the mask file into 1 / 0 / -1."""

  def __init__(self, root: str, images_dir: str, masks_dir: str, decode, name: str):
    self.root, self.name, self.decode = root, name, decode
    images = _stems(io.join(root, images_dir), IMAGE_EXTENSIONS)
    masks = _stems(io.join(root, masks_dir), IMAGE_EXTENSIONS)
    missing = sorted(set(images) - set(masks))
    if missing:
      raise MissingInputError(f"{io.join(root, masks_dir)}: no mask for images {missing[:5]}")
    if not images:
      raise InputError(f"{io.join(root, images_dir)}: no images")
    self.items = [(stem, images[stem], masks[stem]) for stem in sorted(images)]

  def __len__(self) -> int:
    return len(self.items)

  def __repr__(self) -> str:
    return f"{type(self).__name__}({self.root!r}, {len(self)} instances)"

  def __getitem__(self, index) -> dict:
    stem, image_path, mask_path = self.items[int(index)]
    image = read_image_uint8(image_path)
    mask = self.decode(mask_path)
    if mask.shape != image.shape[:2]:
      raise InputError(f"{mask_path}: mask {mask.shape} does not match image {image.shape[:2]}")
    if not np.any(mask == 1):
      raise InputError(f"{mask_path}: empty object mask")
    return {"image": image, "mask": mask, "image_id": stem, "object_id": 1,
            "granularity": np.float32(1.0)}


class GrabCutSource(PairedFolderSource):
  """`GrabCutSource(root)`; a grain `RandomAccessDataSource` of evaluation records."""

  def __init__(self, root: str, images_dir: str = "data_GT", masks_dir: str = "boundary_GT"):
    super().__init__(root, images_dir, masks_dir, lambda p: grabcut_mask(read_mask(p)), "GrabCut")
