"""Segmentation losses of the official trainer, on logits [B, H, W, 1] and labels [B, H, W, 1].

Labels are 1 (object), 0 (background) or -1 (ignore). Each loss returns one value per
instance, [B]; the trainer averages them (official `torch.mean(loss)` in `add_loss`).
"""

import jax
import jax.numpy as jnp

from graco_jax.errors import InputError

IGNORE_LABEL = -1


def normalized_focal_loss(logits, labels, *, alpha: float = 0.5, gamma: float = 2.0,
                          eps: float = 1e-12, max_mult: float = -1.0, weight: float = 1.0,
                          size_average: bool = True, detach_normalizer: bool = True):
  """Official `NormalizedFocalLossSigmoid` (defaults as GraCo/SimpleClick train: alpha 0.5).

  The focal factor (1 - pt)^gamma is rescaled per instance and channel so it sums to the
  number of non-ignored pixels; the rescaling factor carries no gradient (official
  `detach_delimeter=True`). With `size_average` the pixel sum is divided by the non-ignored
  pixel count + eps. Returns [B] float32.
  """
  logits = logits.astype(jnp.float32)
  labels = labels.astype(jnp.float32)
  is_object = labels > 0.5
  valid = labels != IGNORE_LABEL
  validf = valid.astype(jnp.float32)
  probs = jax.nn.sigmoid(logits)
  alpha_map = jnp.where(is_object, alpha, 1.0 - alpha) * validf
  pt = jnp.where(valid, 1.0 - jnp.abs(labels - probs), 1.0)
  beta = (1.0 - pt) ** gamma
  # Per instance and channel, over the spatial axes (official dims (-2, -1) of NCHW).
  mult = jnp.sum(validf, axis=(1, 2), keepdims=True) / (
      jnp.sum(beta, axis=(1, 2), keepdims=True) + eps)
  if detach_normalizer:
    mult = jax.lax.stop_gradient(mult)
  beta = beta * mult
  if max_mult > 0:
    beta = jnp.minimum(beta, max_mult)
  loss = -alpha_map * beta * jnp.log(jnp.minimum(pt + eps, 1.0))
  loss = weight * loss * validf
  total = jnp.sum(loss, axis=(1, 2, 3))
  if size_average:
    total = total / (jnp.sum(validf, axis=(1, 2, 3)) + eps)
  return total


def sigmoid_binary_cross_entropy(logits, labels, *, weight: float = 1.0):
  """Official `SigmoidBinaryCrossEntropyLoss` from logits: ignored pixels contribute 0 but
  still count in the mean over H, W, C. Returns [B] float32."""
  logits = logits.astype(jnp.float32)
  labels = labels.astype(jnp.float32)
  valid = labels != IGNORE_LABEL
  target = jnp.where(valid, labels, 0.0)
  loss = jax.nn.relu(logits) - logits * target + jax.nn.softplus(-jnp.abs(logits))
  loss = weight * loss * valid
  return jnp.mean(loss, axis=(1, 2, 3))


LOSSES = {
    "normalized_focal": normalized_focal_loss,
    "bce": sigmoid_binary_cross_entropy,
}


def get_loss(name: str):
  if name not in LOSSES:
    raise InputError(f"unknown loss {name!r}; choose from {sorted(LOSSES)}")
  return LOSSES[name]
