"""MLP decode head (SegFormer-style, official `SwinTransfomerSegHead` in 'x1' mode)."""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from graco_jax.model.conv import Conv1x1
from graco_jax.model.resize import resize_bilinear


class FusionConv(nn.Module):
  """The official 1x1 fusion conv over the channel concatenation of the per-scale maps, each
  resized to the first map's size: conv(concat_i(resize(x_i))) + b.

  Computed as sum_i resize(x_i @ K_i) + b, with K_i the kernel's input rows of map i: the
  bilinear resize is linear and acts on pixels, the conv on channels, so the two commute and
  the products of the coarse maps are taken at their own resolution. The same function, with
  its additions in another order. Parameters are the official conv's ([1, 1, sum C_i, out]).
  """
  features: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, maps: Sequence):
    channels = [m.shape[-1] for m in maps]
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (1, 1, sum(channels), self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    kernel = kernel[0, 0].astype(self.dtype)
    target_hw = maps[0].shape[1:3]
    out, start = 0.0, 0
    for m, c in zip(maps, channels):
      y = jnp.einsum("bhwi,io->bhwo", m.astype(self.dtype), kernel[start:start + c])
      out = out + resize_bilinear(y, target_hw, align_corners=False)
      start += c
    return out + bias.astype(self.dtype)


class MLPDecodeHead(nn.Module):
  """Per-scale 1x1 conv + ReLU, resize to stride 4, fuse, dropout, 1x1 to one logit."""
  channels: int = 256
  dropout_rate: float = 0.1
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, features: Sequence, train: bool = False):
    maps = [nn.relu(Conv1x1(self.channels, self.dtype, name=f"convs_{i}")(feature))
            for i, feature in enumerate(features)]
    y = nn.relu(FusionConv(self.channels, self.dtype, name="fusion_conv")(maps))
    # torch Dropout2d drops whole channels.
    y = nn.Dropout(self.dropout_rate, broadcast_dims=(1, 2), deterministic=not train)(y)
    return Conv1x1(1, self.dtype, name="conv_seg")(y)
