"""Tiny models (crop 128, 64-pixel windows: windowed and global attention) and random inputs."""

import numpy as np

from graco_jax.model import model_config

CROP = 128
CAPACITY = 6


def tiny_config(granularity: bool):
  config = model_config("tiny", granularity=granularity, lora_rank=4 if granularity else 0,
                        crop_size=CROP)
  config.window_size = 64
  return config


def random_inputs(batch: int, seed: int = 0, size=(CROP, CROP), capacity: int = CAPACITY):
  """Numpy inputs: clicks at random pixels, 1..capacity valid per instance, random signs."""
  rng = np.random.default_rng(seed)
  h, w = size
  counts = rng.integers(1, capacity + 1, size=(batch, 1))
  return {
      "image": rng.uniform(size=(batch, h, w, 3)).astype(np.float32),
      "coords": np.stack([rng.integers(0, h, (batch, capacity)),
                          rng.integers(0, w, (batch, capacity))], axis=-1).astype(np.float32),
      "is_positive": rng.uniform(size=(batch, capacity)) < 0.6,
      "valid": np.arange(capacity)[None] < counts,
      "prev_probs": rng.uniform(size=(batch, h, w, 1)).astype(np.float32),
      "granularity": rng.uniform(0.05, 1.0, size=(batch,)).astype(np.float32),
  }
