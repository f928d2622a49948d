"""Reading images and masks with errors that name the file, and atomic PNG writes."""

import os
import tempfile

import numpy as np
from PIL import Image, UnidentifiedImageError

from graco_jax.errors import InputError, MissingInputError


def read_image(path: str) -> np.ndarray:
  """RGB image as float32 [H, W, 3] in [0, 1]."""
  try:
    with Image.open(path) as image:
      array = np.asarray(image.convert("RGB"), np.float32) / 255.0
  except FileNotFoundError:
    raise MissingInputError(f"image file {path} does not exist") from None
  except (UnidentifiedImageError, OSError) as error:
    raise InputError(f"image file {path} is not a readable image: {error}") from None
  if array.size == 0:
    raise InputError(f"image file {path} is empty")
  return array


def read_image_uint8(path: str) -> np.ndarray:
  """RGB uint8 [H, W, 3] (errors name the file)."""
  return np.rint(read_image(path) * 255.0).astype(np.uint8)


def read_mask(path: str) -> np.ndarray:
  """Single-channel 8-bit mask as uint8 [H, W] (values as stored)."""
  try:
    with Image.open(path) as image:
      array = np.asarray(image.convert("L") if image.mode not in ("L", "P", "1") else image)
  except FileNotFoundError:
    raise MissingInputError(f"mask file {path} does not exist") from None
  except (UnidentifiedImageError, OSError) as error:
    raise InputError(f"mask file {path} is not a readable image: {error}") from None
  return np.asarray(array, np.uint8)


def atomic_write_bytes(path: str, data: bytes) -> None:
  """Writes through a temporary file in the same folder, then renames: never half a file."""
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def write_png(path: str, array: np.ndarray) -> None:
  """Writes a uint8 [H, W] or [H, W, 3] array as PNG, atomically."""
  import io
  buffer = io.BytesIO()
  Image.fromarray(np.asarray(array, np.uint8)).save(buffer, format="PNG")
  atomic_write_bytes(path, buffer.getvalue())
