"""LoRA on the fused qkv projection, and merging it into the base kernel for inference.

Official `loralib.MergedLinear(dim, 3 * dim, r=8, lora_alpha=1, enable_lora=[True, False, True])`:
the update is scaling * x @ A_t^T @ B_t^T for each enabled target t of (q, k, v), with
scaling = alpha / rank. We keep one factor pair per target: `lora_a[t]` [dim, r] and
`lora_b[t]` [r, dim] (flax [in, out] convention), targets in q, k, v order.

Like loralib (merge_weights=True), training adds the update to the qkv output and evaluation
folds it into the kernel first: under `model.eval()` loralib sets W += (B @ A) * scaling.
"""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp
import ml_collections
from flax import traverse_util

PROJECTIONS = ("q", "k", "v")


def _in_qkv_layout(per_target, targets: Sequence[str]):
  """Per-target blocks [T, ..., dim] -> [..., 3 * dim] in q, k, v order, zeros where a
  projection has no adapter."""
  zeros = jnp.zeros_like(per_target[0])
  return jnp.concatenate([per_target[targets.index(p)] if p in targets else zeros
                          for p in PROJECTIONS], axis=-1)


def kernel_delta(lora_a, lora_b, targets: Sequence[str], scaling: float):
  """The update as a [dim, 3 * dim] addition to the fused qkv kernel (zero for the k block)."""
  return _in_qkv_layout(jnp.einsum("tdr,tre->tde", lora_a, lora_b) * scaling, targets)


class QKVLoRA(nn.Module):
  """The adapter of one fused qkv projection: `__call__` gives the update of its output (the
  training form), `kernel_delta` the update of its kernel (the evaluation form)."""
  dim: int
  rank: int
  alpha: float
  targets: Sequence[str]
  dtype: jnp.dtype = jnp.float32

  def setup(self):
    num_targets = len(self.targets)
    # A Gaussian, B zero: a fresh adapter computes exactly the base model.
    self.lora_a = self.param("lora_a", nn.initializers.normal(stddev=self.dim**-0.5),
                             (num_targets, self.dim, self.rank))
    self.lora_b = self.param("lora_b", nn.initializers.zeros,
                             (num_targets, self.rank, self.dim))

  def __call__(self, x):
    """[B, N, dim] -> the update of the fused qkv output, [B, N, 3 * dim]."""
    hidden = jnp.einsum("bnd,tdr->btnr", x, self.lora_a.astype(self.dtype))
    updates = jnp.einsum("btnr,trd->btnd", hidden, self.lora_b.astype(self.dtype))
    updates = updates * (self.alpha / self.rank)
    return _in_qkv_layout(jnp.moveaxis(updates, 1, 0), tuple(self.targets))

  def kernel_delta(self):
    return kernel_delta(self.lora_a, self.lora_b, tuple(self.targets), self.alpha / self.rank)


def merge_lora(model_config: ml_collections.ConfigDict, params):
  """Folds every LoRA update into its qkv kernel; returns (config without LoRA, params)."""
  config = ml_collections.ConfigDict(model_config.to_dict())
  lora = model_config.lora
  flat = traverse_util.flatten_dict(params)
  merged = {}
  for path, value in flat.items():
    if "lora" in path:
      continue
    if path[-2:] == ("qkv", "kernel"):
      lora_params = params
      for key in path[:-2] + ("lora",):
        lora_params = lora_params[key]
      value = value + kernel_delta(lora_params["lora_a"], lora_params["lora_b"],
                                   tuple(lora.targets), lora.alpha / lora.rank)
    merged[path] = value
  config.lora.rank = 0
  return config, traverse_util.unflatten_dict(merged)
