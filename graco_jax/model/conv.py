"""Convolutions that are matmuls, written as matmuls, with `nn.Conv`'s parameters.

XLA's CPU backend lowers the weight gradient of a 1x1 `conv_general_dilated` as a convolution
whose window is the whole feature map, several times slower than the same contraction written
as a dot, and runs a convolution whose stride equals its kernel (patch embedding) several times
slower than the matmul over flattened patches that it is. Parameter names, shapes and init are
nn.Conv's (kernel [k, k, in, out], bias [out]), so checkpoints and the official key mapping are
unchanged.
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


class PatchConv(nn.Module):
  """`nn.Conv(features, (p, p), strides=(p, p), padding="VALID")`: one matmul per patch."""
  features: int
  patch_size: int
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, x):  # [B, H, W, C] -> [B, H/p, W/p, features]
    p = self.patch_size
    b, h, w, c = x.shape
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (p, p, c, self.features))
    bias = self.param("bias", nn.initializers.zeros, (self.features,))
    patches = x.astype(self.dtype).reshape(b, h // p, p, w // p, p, c)
    y = jnp.einsum("bipjqc,pqco->bijo", patches, kernel.astype(self.dtype))
    return y + bias.astype(self.dtype)
