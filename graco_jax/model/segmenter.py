"""The interactive segmenter: image + clicks + previous mask + granularity -> logits."""

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from graco_jax.interaction.clicks import ClickSet
from graco_jax.interaction.encoding import disk_maps
from graco_jax.model.head import MLPDecodeHead
from graco_jax.model.neck import SimpleFeaturePyramid
from graco_jax.model.resize import resize_bilinear
from graco_jax.model.vit import VisionTransformer


class Segmenter(nn.Module):
  """SimpleClick (`granularity=None`) or GraCo (granularity embedding + LoRA).

  image [B, H, W, 3] in [0, 1], prev_mask [B, H, W, 1] probabilities, granularity [B] or None;
  returns logits [B, H, W, 1] float32.
  """
  backbone: VisionTransformer
  neck_dims: Sequence[int]
  head_channels: int = 256
  head_dropout: float = 0.1
  with_prev_mask: bool = True
  disk_radius: float = 5.0
  norm_mean: Sequence[float] = (0.485, 0.456, 0.406)
  norm_std: Sequence[float] = (0.229, 0.224, 0.225)
  dtype: jnp.dtype = jnp.float32

  @nn.compact
  def __call__(self, image, clicks: ClickSet, prev_mask=None, granularity=None,
               train: bool = False):
    batch, height, width, _ = image.shape
    image = (image - jnp.asarray(self.norm_mean)) / jnp.asarray(self.norm_std)
    click_features = disk_maps(clicks, height, width, self.disk_radius)
    if self.with_prev_mask:
      if prev_mask is None:
        prev_mask = jnp.zeros((batch, height, width, 1), jnp.float32)
      click_features = jnp.concatenate([prev_mask.astype(jnp.float32), click_features], axis=-1)
    tokens = self.backbone(image.astype(self.dtype), click_features.astype(self.dtype),
                           granularity, train=train)
    features = SimpleFeaturePyramid(self.neck_dims, self.dtype, name="neck")(tokens)
    logits = MLPDecodeHead(self.head_channels, self.head_dropout, self.dtype,
                           name="head")(features, train=train)
    logits = resize_bilinear(logits.astype(jnp.float32), (height, width), align_corners=True)
    return logits
