"""Reading images and masks with errors that name the file, and atomic PNG writes.

Bytes come and go through graco_jax.io, so images may live on GCS / S3 as well as locally.
"""

import io as std_io

import numpy as np
from PIL import Image, UnidentifiedImageError

from graco_jax import io
from graco_jax.errors import InputError, MissingInputError


def open_image(path: str, kind: str = "image"):
  """A PIL image of the file's bytes (read through graco_jax.io); errors name the file."""
  try:
    return Image.open(std_io.BytesIO(io.read_bytes(path)))
  except FileNotFoundError:
    raise MissingInputError(f"{kind} file {path} does not exist") from None
  except (UnidentifiedImageError, OSError) as error:
    raise InputError(f"{kind} file {path} is not a readable image: {error}") from None


def read_image(path: str) -> np.ndarray:
  """RGB image as float32 [H, W, 3] in [0, 1]."""
  try:
    with open_image(path, "image") as image:
      array = np.asarray(image.convert("RGB"), np.float32) / 255.0
  except (UnidentifiedImageError, OSError) as error:  # truncated data shows up on decode
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
    with open_image(path, "mask") as image:
      array = np.asarray(image.convert("L") if image.mode not in ("L", "P", "1") else image)
  except (UnidentifiedImageError, OSError) as error:
    raise InputError(f"mask file {path} is not a readable image: {error}") from None
  return np.asarray(array, np.uint8)


def write_png(path: str, array: np.ndarray) -> None:
  """Writes a uint8 [H, W] or [H, W, 3] array as PNG, atomically."""
  buffer = std_io.BytesIO()
  Image.fromarray(np.asarray(array, np.uint8)).save(buffer, format="PNG")
  io.atomic_write_bytes(path, buffer.getvalue())
