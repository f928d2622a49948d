"""MLP decode head (SegFormer-style, official `SwinTransfomerSegHead` in 'x1' mode)."""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from graco_jax.model.resize import resize_bilinear


class MLPDecodeHead(nn.Module):
  """Per-scale 1x1 conv + ReLU, resize to stride 4, fuse, dropout, 1x1 to one logit."""
  channels: int = 256
  dropout_rate: float = 0.1
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, features: Sequence, train: bool = False):
    target_hw = features[0].shape[1:3]
    outs = []
    for i, feature in enumerate(features):
      y = nn.relu(nn.Conv(self.channels, (1, 1), dtype=self.dtype, name=f"convs_{i}")(feature))
      outs.append(resize_bilinear(y, target_hw, align_corners=False))
    y = jnp.concatenate(outs, axis=-1)
    y = nn.relu(nn.Conv(self.channels, (1, 1), dtype=self.dtype, name="fusion_conv")(y))
    # torch Dropout2d drops whole channels.
    y = nn.Dropout(self.dropout_rate, broadcast_dims=(1, 2), deterministic=not train)(y)
    return nn.Conv(1, (1, 1), dtype=self.dtype, name="conv_seg")(y)
