"""Which parameters train, with which learning rate and weight decay: the parameter partition.

Parameters are addressed by their '/'-joined path in the variables dict, e.g.
'backbone/blocks_3/attn/lora/lora_a'. Two modes (official `ISTrainer`):
- GCL (`config.optimizer.mode = 'gcl'`): only LoRA factors and the granularity embedding train
  (official `mark_only_lora_as_trainable` + white list 'gra_embed').
- Full fine-tuning (`'full'`): everything except paths containing an entry of
  `config.optimizer.freeze` trains, optionally with layer-wise learning-rate decay (official
  `param_groups_lrd`: scale decay^(depth + 1 - layer), layer 0 = embeddings, block i = i + 1,
  the rest of the backbone and the neck/head 1).

Frozen parameters are not handed to the optimizer at all, so they get neither gradients nor
optimizer state (memory on pods) and stay bit-identical. The trainable ones are grouped by
(learning-rate scale, weight decay) with `optax.multi_transform`.
"""

import re

import jax.numpy as jnp
import ml_collections
import optax
from flax import traverse_util

from graco_jax.errors import InputError

GCL_TRAINABLE = ("lora", "gra_embed")
# Official `no_weight_decay()` of the ViT; all 1-D backbone parameters are also exempt.
NO_WEIGHT_DECAY = ("pos_embed", "cls_token")


def flatten(params) -> dict:
  """{'params': {...}} or {...} -> {'a/b/c': array} (paths without the 'params' root)."""
  if set(params) == {"params"}:
    params = params["params"]
  return traverse_util.flatten_dict(params, sep="/")


def unflatten(flat: dict) -> dict:
  """Inverse of `flatten`, returning the variables dict {'params': ...}."""
  return {"params": traverse_util.unflatten_dict(flat, sep="/")}


def is_trainable(path: str, config: ml_collections.ConfigDict) -> bool:
  parts = path.split("/")
  if config.mode == "gcl":
    return any(name in parts for name in GCL_TRAINABLE)
  if config.mode == "full":
    return not any(entry in path for entry in config.freeze)
  raise InputError(f"unknown optimizer mode {config.mode!r}; use 'gcl' or 'full'")


def trainable_paths(params, config: ml_collections.ConfigDict) -> tuple:
  paths = tuple(p for p in sorted(flatten(params)) if is_trainable(p, config))
  if not paths:
    raise InputError(f"optimizer mode {config.mode!r} leaves no parameter to train "
                     "(GCL needs a model with LoRA or a granularity embedding)")
  return paths


def layer_id(path: str, depth: int) -> int:
  """Official `get_layer_id_for_vit`, with the click embedding at layer 0 like the image one.

  (The official optimizer with layer-wise decay leaves `patch_embed_coords` out of every
  parameter group, so the click embedding silently never trains; we do not copy that.)
  """
  parts = path.split("/")
  if parts[0] != "backbone":
    return depth + 1
  if parts[1] in ("pos_embed", "patch_embed", "click_embed"):
    return 0
  match = re.fullmatch(r"blocks_(\d+)", parts[1])
  if match:
    return int(match.group(1)) + 1
  return depth + 1


def param_group(path: str, value, config: ml_collections.ConfigDict, depth: int):
  """(learning-rate scale, weight decay) of one trainable parameter."""
  in_backbone = path.startswith("backbone/")
  no_decay = in_backbone and (jnp.ndim(value) == 1 or path.split("/")[1] in NO_WEIGHT_DECAY)
  decay = 0.0 if no_decay else config.weight_decay
  if config.layer_decay < 1.0:
    scale = config.layer_decay ** (depth + 1 - layer_id(path, depth))
  else:
    scale = 1.0
  return float(scale), float(decay)


def learning_rate_schedule(config: ml_collections.ConfigDict, steps_per_epoch: int,
                           total_steps: int):
  """Step -> learning rate. 'multistep': x gamma at each epoch milestone (official
  MultiStepLR [50, 55], 0.1); 'cosine': linear warm-up then cosine decay to 0."""
  if config.schedule == "multistep":
    boundaries = {int(m * steps_per_epoch): config.gamma for m in config.milestones}
    return optax.piecewise_constant_schedule(config.learning_rate, boundaries)
  if config.schedule == "cosine":
    warmup = int(config.warmup_epochs * steps_per_epoch)
    return optax.warmup_cosine_decay_schedule(0.0, config.learning_rate, max(warmup, 1),
                                              max(total_steps, warmup + 1))
  if config.schedule == "constant":
    return optax.constant_schedule(config.learning_rate)
  raise InputError(f"unknown schedule {config.schedule!r}; use multistep, cosine or constant")


def make_optimizer(params, config: ml_collections.ConfigDict, depth: int,
                   steps_per_epoch: int, total_steps: int):
  """Returns (optax transformation over the trainable flat dict, trainable paths, schedule).

  Adam's weight decay is the coupled L2 of `torch.optim.Adam(weight_decay=...)`; 'adamw'
  decouples it. Gradient clipping by global norm applies to all trainable leaves together.
  """
  paths = trainable_paths(params, config)
  flat = flatten(params)
  schedule = learning_rate_schedule(config, steps_per_epoch, total_steps)
  labels, transforms = {}, {}
  for path in paths:
    scale, decay = param_group(path, flat[path], config, depth)
    label = f"lr{scale:.6g}_wd{decay:.6g}"
    labels[path] = label
    if label in transforms:
      continue
    chain = []
    if config.name == "adam" and decay > 0:
      chain.append(optax.add_decayed_weights(decay))
    chain.append(optax.scale_by_adam(b1=config.b1, b2=config.b2, eps=config.eps))
    if config.name == "adamw" and decay > 0:
      chain.append(optax.add_decayed_weights(decay))
    chain.append(optax.scale_by_learning_rate(lambda step, s=scale: schedule(step) * s))
    transforms[label] = optax.chain(*chain)
  if config.name not in ("adam", "adamw"):
    raise InputError(f"unknown optimizer {config.name!r}; use adam or adamw")
  tx = optax.multi_transform(transforms, labels)
  if config.grad_clip_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), tx)
  return tx, paths, schedule
