"""Plain ViT backbone of SimpleClick, with click embedding, granularity embedding and LoRA.

Every size (tiny, base, large, huge) is the same code with other config fields. Blocks attend
inside 224x224-pixel windows except every `global_every`-th block, which attends over the
whole token grid (official `VisionTransformer.forward_backbone`).
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from graco_jax.errors import InputError
from graco_jax.model.activation import exact_gelu
from graco_jax.model.conv import PatchConv
from graco_jax.model.lora import QKVLoRA
from graco_jax.model.resize import resize_bicubic

NUM_GRANULARITY_BINS = 10
# One granularity per embedding bin (bin i holds [0.1 (i + 1), 0.1 (i + 2))): the oracle's
# sweep, the demo's slider stops and the AGG histogram's bins.
GRANULARITY_BINS = tuple(round(0.1 * (i + 1), 1) for i in range(NUM_GRANULARITY_BINS))


def granularity_index(granularity: jax.Array) -> jax.Array:
  """Official bin: clamp(g * 10 - 1, 0, 9) truncated, computed in float32 as torch does."""
  g = jnp.asarray(granularity, jnp.float32)
  return jnp.clip(g * NUM_GRANULARITY_BINS - 1, 0, NUM_GRANULARITY_BINS - 1).astype(jnp.int32)


def global_block_period(depth: int) -> int:
  """Official window schedule: every 6th block global for depth 12, else every depth//4-th.

  The official code asserts depth % 4 == 0 and breaks for depth 4 (a period of 1 tries to undo
  a window split that never happened); here a period of 1 just means every block is global.
  """
  return 6 if depth == 12 else max(depth // 4, 1)


def window_partition(x, window: int):
  """[B, H, W, D] -> [B * (H//window) * (W//window), window * window, D], windows row-major."""
  b, h, w, d = x.shape
  x = x.reshape(b, h // window, window, w // window, window, d)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(-1, window * window, d)


def window_merge(x, batch: int, h: int, w: int, window: int):
  """Inverse of `window_partition`."""
  d = x.shape[-1]
  x = x.reshape(batch, h // window, w // window, window, window, d)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(batch, h, w, d)


def plain_attention(q, k, v):
  """softmax(q k^T / sqrt(d)) v on [B, N, heads, d], the softmax in float32.

  What `jax.nn.dot_product_attention` computes with implementation='xla', written out for the
  CPU: heads ahead of tokens, so both products are plain batched matmuls, and the softmax
  normalised after the second product (exp(s - max) v / sum exp(s - max), as flash attention
  does), which saves a pass over the [N, N] weights. Forward and gradient are 1.2-6x faster
  than the library's at the windowed and global shapes of these models.
  """
  q, k, v = (x.transpose(0, 2, 1, 3) for x in (q, k, v))  # [B, heads, N, d]
  logits = jnp.einsum("bhqd,bhkd->bhqk", q * q.shape[-1] ** -0.5, k,
                      preferred_element_type=jnp.float32)
  peak = jax.lax.stop_gradient(jnp.max(logits, axis=-1, keepdims=True))
  weights = jnp.exp(logits - peak)
  out = jnp.einsum("bhqk,bhkd->bhqd", weights.astype(v.dtype), v,
                   preferred_element_type=jnp.float32)
  out = out / jnp.sum(weights, axis=-1, keepdims=True)
  return out.astype(v.dtype).transpose(0, 2, 1, 3)


# On the CPU, attention over more tokens than this (the global blocks at 448: 784) runs one image
# at a time: the [B, heads, N, N] weights of a batch overflow the cache, one image's fit.
PER_IMAGE_ATTENTION_TOKENS = 256


def per_image_attention(q, k, v):
  """`plain_attention` one image at a time (lax.map over the batch): the same numbers. On a
  2-core AMD EPYC the 16-crop forward at 448 ran in 0.70 of the time and the batch-4 one in 0.67."""
  return jax.lax.map(lambda qkv: plain_attention(*(x[None] for x in qkv))[0], (q, k, v))


class FusedQKV(nn.Module):
  """`nn.Dense(3 * dim)` (the same params and numbers) whose kernel can take a LoRA update."""
  features: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x, kernel_delta=None):
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
    if kernel_delta is not None:
      kernel = kernel + kernel_delta
    y = jax.lax.dot_general(x.astype(self.dtype), kernel.astype(self.dtype),
                            (((x.ndim - 1,), (0,)), ((), ())))
    return y + bias.astype(self.dtype)


class Attention(nn.Module):
  """merged_lora: fold the LoRA update into the qkv kernel (evaluation, as loralib under
  `eval()`) instead of adding it to the qkv output (training): one matmul instead of three. The
  unmerged path took 17.9 ms of a 207 ms batch-8 forward at 448 on the CPU."""
  dim: int
  num_heads: int
  lora_rank: int = 0
  lora_alpha: float = 1.0
  lora_targets: Sequence[str] = ("q", "v")
  dtype: jnp.dtype = jnp.float32
  attention_impl: str | None = None
  merged_lora: bool = False

  @nn.compact
  def __call__(self, x):  # [B, N, D]
    qkv_layer = FusedQKV(3 * self.dim, self.dtype, name="qkv")
    if self.lora_rank == 0:
      qkv = qkv_layer(x)
    else:
      lora = QKVLoRA(self.dim, self.lora_rank, self.lora_alpha, tuple(self.lora_targets),
                     dtype=self.dtype, name="lora")
      qkv = (qkv_layer(x, lora.kernel_delta()) if self.merged_lora
             else qkv_layer(x) + lora(x))
    b, n, _ = x.shape
    head_dim = self.dim // self.num_heads
    q, k, v = jnp.split(qkv.reshape(b, n, 3, self.num_heads, head_dim), 3, axis=2)
    q, k, v = q[:, :, 0], k[:, :, 0], v[:, :, 0]
    if self.attention_impl:
      out = jax.nn.dot_product_attention(q, k, v, implementation=self.attention_impl)
    elif (isinstance(b, int) and isinstance(n, int)  # not a symbolic (exported) batch
          and b > 1 and n > PER_IMAGE_ATTENTION_TOKENS and jax.default_backend() == "cpu"):
      out = per_image_attention(q, k, v)
    else:
      out = plain_attention(q, k, v)
    return nn.Dense(self.dim, dtype=self.dtype, name="proj")(out.reshape(b, n, self.dim))


class Mlp(nn.Module):
  hidden_dim: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    d = x.shape[-1]
    x = nn.Dense(self.hidden_dim, dtype=self.dtype, name="fc1")(x)
    x = exact_gelu(x)
    return nn.Dense(d, dtype=self.dtype, name="fc2")(x)


class Block(nn.Module):
  dim: int
  num_heads: int
  mlp_ratio: float = 4.0
  lora_rank: int = 0
  lora_alpha: float = 1.0
  lora_targets: Sequence[str] = ("q", "v")
  dtype: jnp.dtype = jnp.float32
  attention_impl: str | None = None
  merged_lora: bool = False

  @nn.compact
  def __call__(self, x):
    y = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name="norm1")(x)
    x = x + Attention(self.dim, self.num_heads, self.lora_rank, self.lora_alpha,
                      self.lora_targets, self.dtype, self.attention_impl, self.merged_lora,
                      name="attn")(y)
    y = nn.LayerNorm(epsilon=1e-6, dtype=self.dtype, name="norm2")(x)
    return x + Mlp(int(self.dim * self.mlp_ratio), self.dtype, name="mlp")(y)


class PatchEmbed(nn.Module):
  """Non-overlapping patch projection, [B, H, W, C] -> [B, H/p, W/p, D]; its `proj` keeps the
  official `patch_embed.proj` parameter path."""
  dim: int
  patch_size: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):
    return PatchConv(self.dim, self.patch_size, self.dtype, name="proj")(x)


class VisionTransformer(nn.Module):
  """Returns the token grid [B, H/p, W/p, D] after all blocks."""
  dim: int
  depth: int
  num_heads: int
  patch_size: int
  crop_size: Sequence[int]
  window_size: int = 224
  mlp_ratio: float = 4.0
  use_granularity: bool = False
  lora_rank: int = 0
  lora_alpha: float = 1.0
  lora_targets: Sequence[str] = ("q", "v")
  dtype: jnp.dtype = jnp.float32
  attention_impl: str | None = None
  remat: bool = False

  @nn.compact
  def __call__(self, image, click_features, granularity=None, train: bool = False):
    x = PatchEmbed(self.dim, self.patch_size, self.dtype, name="patch_embed")(image)
    x = x + PatchEmbed(self.dim, self.patch_size, self.dtype, name="click_embed")(click_features)
    if self.use_granularity:
      table = nn.Embed(NUM_GRANULARITY_BINS, self.dim, name="gra_embed",
                       embedding_init=nn.initializers.normal(1.0))
      if granularity is not None:
        x = x + table(granularity_index(granularity))[:, None, None, :].astype(x.dtype)
    x = x + self._position_embedding(x.shape[1], x.shape[2]).astype(x.dtype)

    batch, grid_h, grid_w, _ = x.shape
    window = self.window_size // self.patch_size
    if grid_h % window or grid_w % window:
      raise InputError(
          f"token grid {grid_h}x{grid_w} does not split into {window}x{window}-token windows "
          f"({self.window_size}-pixel windows at patch {self.patch_size}); use an input size "
          f"that is a multiple of {self.window_size}")
    period = global_block_period(self.depth)
    block_cls = nn.remat(Block) if self.remat else Block
    for i in range(self.depth):
      block = block_cls(self.dim, self.num_heads, self.mlp_ratio, self.lora_rank, self.lora_alpha,
                        tuple(self.lora_targets), self.dtype, self.attention_impl,
                        merged_lora=not train, name=f"blocks_{i}")
      if (i + 1) % period == 0:
        x = block(x.reshape(batch, grid_h * grid_w, -1)).reshape(batch, grid_h, grid_w, -1)
      else:
        x = window_merge(block(window_partition(x, window)), batch, grid_h, grid_w, window)
    return x

  def _position_embedding(self, grid_h: int, grid_w: int):
    """Learned embedding on the crop's grid, bicubically resized for other input sizes."""
    crop_h, crop_w = (s // self.patch_size for s in self.crop_size)
    pos = self.param("pos_embed", nn.initializers.normal(0.02), (1, crop_h * crop_w, self.dim))
    pos = pos.reshape(crop_h, crop_w, self.dim)
    return resize_bicubic(pos, (grid_h, grid_w), align_corners=False)[None]
