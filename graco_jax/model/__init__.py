"""Model sizes as data, and the constructors every other part of graco-jax uses."""

import jax
import jax.numpy as jnp
import ml_collections

from graco_jax.errors import InputError
from graco_jax.interaction.clicks import empty_clicks
from graco_jax.model.lora import merge_lora
from graco_jax.model.segmenter import Segmenter
from graco_jax.model.vit import GRANULARITY_BINS, VisionTransformer, granularity_index

# dim, depth, heads, patch, neck channels, head channels (official SimpleClick configs).
SIZES = {
    "tiny": (96, 4, 4, 16, (24, 48, 96, 192), 64),
    "base": (768, 12, 12, 16, (128, 256, 512, 1024), 256),
    "large": (1024, 24, 16, 16, (192, 384, 768, 1536), 256),
    "huge": (1280, 32, 16, 14, (240, 480, 960, 1920), 256),
}


def model_config(size: str = "base", granularity: bool = True, lora_rank: int = 8,
                 crop_size: int = 448) -> ml_collections.ConfigDict:
  """Model config for one size; `granularity=False` and `lora_rank=0` give SimpleClick."""
  if size not in SIZES:
    raise InputError(f"unknown model size {size!r}; choose from {sorted(SIZES)}")
  dim, depth, heads, patch, neck, head = SIZES[size]
  return ml_collections.ConfigDict({
      "size": size,
      "embed_dim": dim,
      "depth": depth,
      "num_heads": heads,
      "patch_size": patch,
      "mlp_ratio": 4.0,
      "crop_size": (crop_size, crop_size),
      "window_size": 224,  # pixels per attention window side (official: the MAE 224 grid)
      "neck_dims": neck,
      "head_channels": head,
      "head_dropout": 0.1,
      "with_prev_mask": True,
      "disk_radius": 5.0,
      "use_granularity": granularity,
      "lora": {"rank": lora_rank, "alpha": 1.0, "targets": ("q", "v")},
      "dtype": "float32",  # compute dtype; parameters are always float32
      # "": einsum attention through XLA (on the CPU one image at a time in blocks over 256
      # tokens, same numbers); "cudnn": fused flash attention on GPUs
      "attention_impl": "",
      "remat": False,
  })


def create_model(config: ml_collections.ConfigDict) -> Segmenter:
  dtype = jnp.dtype(config.dtype)
  patch = config.patch_size
  window = config.window_size
  if window % patch:
    raise InputError(f"window_size {window} is not a multiple of patch_size {patch}")
  backbone = VisionTransformer(
      dim=config.embed_dim, depth=config.depth, num_heads=config.num_heads,
      patch_size=patch, crop_size=tuple(config.crop_size), window_size=window,
      mlp_ratio=config.mlp_ratio, use_granularity=config.use_granularity,
      lora_rank=config.lora.rank, lora_alpha=config.lora.alpha,
      lora_targets=tuple(config.lora.targets), dtype=dtype,
      attention_impl=config.attention_impl or None, remat=config.remat, name="backbone")
  return Segmenter(
      backbone=backbone, neck_dims=tuple(config.neck_dims), head_channels=config.head_channels,
      head_dropout=config.head_dropout, with_prev_mask=config.with_prev_mask,
      disk_radius=config.disk_radius, dtype=dtype)


def dummy_inputs(config: ml_collections.ConfigDict, batch_size: int = 1, capacity: int = 24):
  """Keyword inputs for `create_model(config).init(rng, **dummy_inputs(config))`."""
  h, w = config.crop_size
  return {
      "image": jnp.zeros((batch_size, h, w, 3), jnp.float32),
      "clicks": empty_clicks(batch_size, capacity),
      "prev_mask": jnp.zeros((batch_size, h, w, 1), jnp.float32),
      "granularity": jnp.ones((batch_size,), jnp.float32) if config.use_granularity else None,
  }


def init_params(config: ml_collections.ConfigDict, rng: jax.Array):
  """Random float32 parameters ({'params': ...})."""
  return jax.jit(create_model(config).init)(rng, **dummy_inputs(config))


def param_count(params) -> int:
  return sum(int(x.size) for x in jax.tree_util.tree_leaves(params))


__all__ = ["GRANULARITY_BINS", "SIZES", "Segmenter", "create_model", "dummy_inputs", "granularity_index",
           "init_params", "merge_lora", "model_config", "param_count"]
