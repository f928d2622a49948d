"""DAVIS (345 frames of 50 videos, the interactive segmentation evaluation subset).

Layout (official `DavisDataset`): DIR/img/<name>.jpg and DIR/gt/<name>.png; any non-zero colour
is the object (official: max over colour channels > 0), no ignore label.
"""

import numpy as np
from PIL import UnidentifiedImageError

from graco_jax.data.image_io import open_image
from graco_jax.data.sources.grabcut import PairedFolderSource
from graco_jax.errors import InputError


def read_color_mask(path: str) -> np.ndarray:
  """int8 [H, W]: 1 where any colour channel is non-zero (palette PNGs through their colours)."""
  try:
    with open_image(path, "mask") as image:
      array = np.asarray(image.convert("RGB") if image.mode in ("P", "PA", "RGBA") else image)
  except (UnidentifiedImageError, OSError) as error:
    raise InputError(f"mask file {path} is not a readable image: {error}") from None
  if array.ndim == 3:
    array = array.max(axis=2)
  return (array > 0).astype(np.int8)


class DavisSource(PairedFolderSource):
  """`DavisSource(root)`; a grain `RandomAccessDataSource` of evaluation records."""

  def __init__(self, root: str, images_dir: str = "img", masks_dir: str = "gt"):
    super().__init__(root, images_dir, masks_dir, read_color_mask, "DAVIS")
