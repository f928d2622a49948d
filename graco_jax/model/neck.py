"""Simple feature pyramid (ViTDet): one stride-16 token grid -> strides 4, 8, 16, 32."""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from graco_jax.model.activation import exact_gelu
from graco_jax.model.conv import Conv1x1, PatchConv


def _group_norm(name):
  # torch GroupNorm(1, C): one group, eps 1e-5.
  return nn.GroupNorm(num_groups=1, epsilon=1e-5, name=name)


class ConvTranspose2x2(nn.Module):
  """Kernel-2 stride-2 transposed conv: each input pixel paints its own 2x2 output block.

  Written as an einsum so the kernel layout is explicit: kernel[a, b, i, o] is torch's
  ConvTranspose2d weight[i, o, a, b].
  """
  features: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):  # [B, H, W, C]
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (2, 2, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    y = jnp.einsum("nhwi,abio->nhawbo", x.astype(self.dtype), kernel.astype(self.dtype))
    b, h, _, w, _, o = y.shape
    return y.reshape(b, 2 * h, 2 * w, o) + bias.astype(self.dtype)


class SimpleFeaturePyramid(nn.Module):
  """Official `SimpleFPN`; returns [stride 4, 8, 16, 32] maps with `out_dims` channels."""
  out_dims: Sequence[int]
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):  # [B, H/16, W/16, D]
    dim = x.shape[-1]
    d4, d8, d16, d32 = self.out_dims
    c4 = max(d4 * 2, dim // 2)
    c8 = max(d8, dim // 2)
    c32 = max(d32, dim * 2)

    y = ConvTranspose2x2(c4, self.dtype, name="down_4_upconv1")(x)
    y = exact_gelu(_group_norm("down_4_norm1")(y))
    y = ConvTranspose2x2(c4 // 2, self.dtype, name="down_4_upconv2")(y)
    y = _group_norm("down_4_norm2")(y)
    y = Conv1x1(d4, self.dtype, name="down_4_proj")(y)
    stride4 = exact_gelu(_group_norm("down_4_norm3")(y))

    y = ConvTranspose2x2(c8, self.dtype, name="down_8_upconv")(x)
    y = _group_norm("down_8_norm1")(y)
    y = Conv1x1(d8, self.dtype, name="down_8_proj")(y)
    stride8 = exact_gelu(_group_norm("down_8_norm2")(y))

    y = Conv1x1(d16, self.dtype, name="down_16_proj")(x)
    stride16 = exact_gelu(_group_norm("down_16_norm")(y))

    y = PatchConv(c32, 2, self.dtype, name="down_32_downconv")(x)
    y = _group_norm("down_32_norm1")(y)
    y = Conv1x1(d32, self.dtype, name="down_32_proj")(y)
    stride32 = exact_gelu(_group_norm("down_32_norm2")(y))
    return [stride4, stride8, stride16, stride32]
