"""The official training augmentation, in numpy / scikit-image for grain workers.

Official recipe (GraCo/SimpleClick `train()` with albumentations): UniformRandomResize(0.75,
1.25), Flip, RandomRotate90, ShiftScaleRotate(shift 0.03, scale 0, rotate +-3 deg, constant
border, p 0.75), PadIfNeeded(crop, constant 0), RandomCrop(crop), RandomBrightnessContrast
(brightness +-0.25, contrast -0.15..0.4, p 0.75), RGBShift(+-10 per channel, p 0.75).
Geometry is applied identically to the image (bilinear) and every label map (nearest).
All randomness comes from the `np.random.Generator` passed in.
"""

import dataclasses

import numpy as np
from skimage import transform as sktf


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
  crop_size: tuple = (448, 448)
  scale_range: tuple = (0.75, 1.25)
  flip: bool = True
  rot90: bool = True
  shift_limit: float = 0.03
  rotate_limit: float = 3.0  # degrees
  shift_scale_rotate_prob: float = 0.75
  brightness_limit: tuple = (-0.25, 0.25)
  contrast_limit: tuple = (-0.15, 0.4)
  brightness_contrast_prob: float = 0.75
  rgb_shift_limit: float = 10.0
  rgb_shift_prob: float = 0.75
  photometric: bool = True  # False for the official validation recipe (resize, pad, crop)



def _resize(x, shape, order):
  out = sktf.resize(x, shape, order=order, preserve_range=True, anti_aliasing=False, mode="edge")
  return out.astype(x.dtype) if order == 0 else np.clip(np.round(out), 0, 255).astype(x.dtype)


def _warp(x, matrix, order):
  """Affine warp with constant 0 border; `matrix` maps output to input (x, y) coordinates."""
  out = sktf.warp(x, sktf.AffineTransform(matrix=matrix), order=order, mode="constant", cval=0,
                  preserve_range=True)
  return out.astype(x.dtype) if order == 0 else np.clip(np.round(out), 0, 255).astype(x.dtype)


def augment(image: np.ndarray, labels: dict, rng: np.random.Generator, config: AugmentConfig):
  """image uint8 [H, W, 3], labels {name: integer map [H, W]} -> the same at the crop size."""
  h, w = image.shape[:2]
  # Random resize.
  s = rng.uniform(*config.scale_range)
  new_h, new_w = max(int(round(h * s)), 1), max(int(round(w * s)), 1)
  image = _resize(image, (new_h, new_w), 1)
  labels = {k: _resize(v, (new_h, new_w), 0) for k, v in labels.items()}

  def geometric(fn):
    nonlocal image, labels
    image = fn(image)
    labels = {k: fn(v) for k, v in labels.items()}

  if config.photometric:
    if config.flip and rng.random() < 0.5:  # albumentations Flip: h, v or both
      axes = [(1,), (0,), (0, 1)][rng.integers(3)]
      geometric(lambda x: np.ascontiguousarray(np.flip(x, axes)))
    if config.rot90 and rng.random() < 0.5:
      k = int(rng.integers(4))
      geometric(lambda x: np.ascontiguousarray(np.rot90(x, k)))
    if rng.random() < config.shift_scale_rotate_prob:
      angle = np.deg2rad(rng.uniform(-config.rotate_limit, config.rotate_limit))
      dx = rng.uniform(-config.shift_limit, config.shift_limit) * image.shape[1]
      dy = rng.uniform(-config.shift_limit, config.shift_limit) * image.shape[0]
      cy, cx = image.shape[0] / 2, image.shape[1] / 2
      cos, sin = np.cos(angle), np.sin(angle)
      # Forward: rotate about the centre, then shift; warp needs output -> input.
      forward = np.array([[cos, sin, cx - cos * cx - sin * cy + dx],
                          [-sin, cos, cy + sin * cx - cos * cy + dy],
                          [0, 0, 1]])
      inverse = np.linalg.inv(forward)
      geometric(lambda x: _warp(x, inverse, 0 if x.ndim == 2 else 1))

  # Pad to at least the crop (centred, zeros), then a random crop.
  ch, cw = config.crop_size
  h, w = image.shape[:2]
  pad_h, pad_w = max(ch - h, 0), max(cw - w, 0)
  if pad_h or pad_w:
    top, left = pad_h // 2, pad_w // 2
    widths = ((top, pad_h - top), (left, pad_w - left))
    geometric(lambda x: np.pad(x, widths + ((0, 0),) * (x.ndim - 2)))
  h, w = image.shape[:2]
  y0 = int((h - ch) * rng.random())
  x0 = int((w - cw) * rng.random())
  geometric(lambda x: x[y0:y0 + ch, x0:x0 + cw])

  if config.photometric:
    out = image.astype(np.float32)
    if rng.random() < config.brightness_contrast_prob:
      alpha = 1.0 + rng.uniform(*config.contrast_limit)
      beta = rng.uniform(*config.brightness_limit)
      out = out * alpha + beta * 255.0
    if rng.random() < config.rgb_shift_prob:
      lim = config.rgb_shift_limit
      out = out + rng.uniform(-lim, lim, size=3).astype(np.float32)
    image = np.clip(np.round(out), 0, 255).astype(np.uint8)
  return image, labels
