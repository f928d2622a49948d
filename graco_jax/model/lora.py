"""LoRA on the fused qkv projection, and merging it into the base kernel for inference.

Official `loralib.MergedLinear(dim, 3 * dim, r=8, lora_alpha=1, enable_lora=[True, False, True])`:
the update is scaling * x @ A_t^T @ B_t^T for each enabled target t of (q, k, v), with
scaling = alpha / rank. We keep one factor pair per target: `lora_a[t]` [dim, r] and
`lora_b[t]` [r, dim] (flax [in, out] convention), targets in q, k, v order.
"""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp
import ml_collections
from flax import traverse_util

PROJECTIONS = ("q", "k", "v")


class QKVLoRA(nn.Module):
  """Returns the low-rank update of the fused qkv output, [B, N, 3 * dim]."""
  dim: int
  rank: int
  alpha: float
  targets: Sequence[str]
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    num_targets = len(self.targets)
    # A Gaussian, B zero: a fresh adapter computes exactly the base model.
    lora_a = self.param("lora_a", nn.initializers.normal(stddev=self.dim**-0.5),
                        (num_targets, self.dim, self.rank))
    lora_b = self.param("lora_b", nn.initializers.zeros, (num_targets, self.rank, self.dim))
    scaling = self.alpha / self.rank
    hidden = jnp.einsum("bnd,tdr->btnr", x, lora_a.astype(self.dtype))
    updates = jnp.einsum("btnr,trd->btnd", hidden, lora_b.astype(self.dtype)) * scaling
    zeros = jnp.zeros(x.shape[:-1] + (self.dim,), updates.dtype)
    parts = [updates[:, self.targets.index(p)] if p in self.targets else zeros
             for p in PROJECTIONS]
    return jnp.concatenate(parts, axis=-1)


def merge_lora(model_config: ml_collections.ConfigDict, params):
  """Folds every LoRA update into its qkv kernel; returns (config without LoRA, params)."""
  config = ml_collections.ConfigDict(model_config.to_dict())
  lora = model_config.lora
  scaling = lora.alpha / lora.rank
  flat = traverse_util.flatten_dict(params)
  merged = {}
  for path, value in flat.items():
    if "lora" in path:
      continue
    if path[-2:] == ("qkv", "kernel"):
      lora_params = params
      for key in path[:-2] + ("lora",):
        lora_params = lora_params[key]
      delta = jnp.einsum("tdr,tre->tde", lora_params["lora_a"], lora_params["lora_b"]) * scaling
      dim = value.shape[0]
      blocks = [value[:, i * dim:(i + 1) * dim] for i in range(3)]
      for t, name in enumerate(lora.targets):
        index = PROJECTIONS.index(name)
        blocks[index] = blocks[index] + delta[t]
      value = jnp.concatenate(blocks, axis=1)
    merged[path] = value
  config.lora.rank = 0
  return config, traverse_util.unflatten_dict(merged)
