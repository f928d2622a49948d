"""Pointwise (1x1) convolution as a matmul, with `nn.Conv(features, (1, 1))`'s parameters.

XLA's CPU backend lowers the weight gradient of a 1x1 `conv_general_dilated` as a convolution
whose window is the whole feature map, several times slower than the same contraction written
as a dot; the forward is a dot either way. Parameter names and shapes are nn.Conv's
(kernel [1, 1, in, out], bias [out]), so checkpoints and the official key mapping are unchanged.
"""

import flax.linen as nn
import jax.numpy as jnp


class Conv1x1(nn.Module):
  features: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):  # [B, H, W, C] -> [B, H, W, features]
    kernel = self.param("kernel", nn.initializers.lecun_normal(),
                        (1, 1, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    y = jnp.einsum("bhwi,io->bhwo", x.astype(self.dtype), kernel[0, 0].astype(self.dtype))
    return y + bias.astype(self.dtype)
