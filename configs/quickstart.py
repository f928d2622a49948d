"""The embedded default as a recipe: the whole GraCo pipeline at toy scale on the synthetic part
world, sized for minutes on 2 CPU cores, no download.

`graco-jax quickstart` runs every stage of this recipe in order through the entry points a
user runs, resumably, then writes OUT/report.md (paper Table 1 layout with the paper's claims
checked), results.json and figures. Each stage is also a config of its own (OUT is `out`,
default quickstart_out):
  pretrain  graco-jax train --config configs/quickstart.py:pretrain --workdir OUT/object_model
  agg       graco-jax generate --config configs/quickstart.py:agg --checkpoint OUT/object_model \
                --out OUT/proposals
  gcl       graco-jax train --config configs/quickstart.py:gcl --workdir OUT/graco
            (from OUT/graco_init: the object model with fresh LoRA factors and a zero
            granularity embedding, and OUT/objects_store: the AGG images' whole objects at
            granularity 1.0; the driver writes both)
  gcl_gt    graco-jax train --config configs/quickstart.py:gcl_gt --workdir OUT/graco_gt
            (GraCo w/ GT, the paper's upper row: the same GCL on the world's annotated objects,
            parts and sub-parts with their true granularity, from OUT/graco_init)
  parts_ft  graco-jax train --config configs/quickstart.py:parts_ft --workdir OUT/simpleclick_parts
  eval      the held-out benchmark the driver runs on the four models (NoC on objects and
            on parts of at least one token; GraCo on parts with the per-instance oracle and at
            one fixed granularity chosen on training parts; IoU-granularity curves)
The settings below are options of the argument, e.g.
`graco-jax quickstart --config configs/quickstart.py:pretrain_steps=500,gcl_steps=200`; a
resumed run must keep its settings. Expected (seed 0, README table, jax 0.10.2, a 2-core AMD
EPYC): GraCo needs ~19% fewer clicks than the object model on parts (NoC@85 14.02 vs 17.27;
15.96 at one fixed granularity), stays within 8% of it on objects at granularity 1.0 (15.71 vs
14.58) and beats SimpleClick¶ there (15.71 vs 16.42). Other CPU kinds round otherwise (README).
Time: 6.9 minutes on an idle 2-core AMD EPYC (7.9-8.3 on Intel AVX-512 ones, earlier code),
about 23 on a 2-core AVX2-only one (estimated, not measured; the run prints its own estimate).
"""

import os

import ml_collections

from graco_jax.agg.generate import default_config as agg_defaults
from graco_jax.errors import InputError
from graco_jax.training.defaults import cpu_sized, graco_config, parse_arg, simpleclick_config

STAGES = ("pretrain", "agg", "gcl", "gcl_gt", "parts_ft", "eval")

SETTINGS = {
    "seed": 0,
    "image_size": 128,
    "model_size": "tiny",
    "patch_size": 16,
    "train_images": 600,
    "val_images": 40,
    "batch_size": 8,
    # Constant learning rates: pre-training and SimpleClick¶ (same lr) then compile to the
    # same train step, which the persistent compilation cache shares.
    "pretrain_steps": 2000,
    "pretrain_lr": 1e-3,
    "gcl_steps": 800,
    # LoRA + granularity embedding are ~1% of the parameters; at 1e-3 the embedding barely
    # moves in 800 steps (IoU@1 on objects 0.36 at g=0.1 vs 0.42 at g=1.0), at 3e-3 it
    # controls the mask (0.09 vs 0.59).
    "gcl_lr": 3e-3,
    "parts_ft_steps": 600,
    "parts_ft_lr": 1e-3,
    "agg_images": 300,  # training images whose objects AGG parses
    "agg_batch_size": 16,
    "eval_objects": 48,
    "eval_parts": 48,
    # Parts smaller than one ViT token (16x16 px) are left out of the part benchmark: even a
    # perfect stride-4 prediction reaches 85% IoU on only about half of them.
    "eval_min_part_area": 256,
    "max_clicks": 20,
}


def object_data(s) -> ml_collections.ConfigDict:
  """The synthetic training objects (registry source 'synthetic'); proposal stores record it
  so their reader rebuilds the images."""
  return ml_collections.ConfigDict({
      "source": "synthetic", "level": "object", "split": "train", "num_images": s.train_images,
      "image_size": (s.image_size, s.image_size), "seed": s.seed})


def _sized(config, s, level, steps, lr):
  cpu_sized(config, level, crop_size=s.image_size, num_steps=steps)
  config.model.patch_size = s.patch_size
  config.seed = s.seed
  config.data.num_images = s.train_images
  config.data.seed = s.seed
  config.train.batch_size = s.batch_size
  config.train.max_num_next_clicks = 1
  config.train.checkpoint_every = max(steps // 4, 1)
  config.train.log_every = max(steps // 10, 1)
  config.train.async_checkpoints = False
  config.optimizer.learning_rate = lr
  config.optimizer.schedule = "constant"
  return config


def _model_arg(s):
  return f"size={s.model_size},crop={s.image_size}"


def pretrain(s, out):
  """SimpleClick: a tiny object-level model on synthetic scenes."""
  del out
  return _sized(simpleclick_config(_model_arg(s)), s, "object", s.pretrain_steps, s.pretrain_lr)


def gcl_gt(s, out):
  """GraCo w/ GT: LoRA + granularity embedding on the annotated parts (true granularity)."""
  config = _sized(graco_config("gt," + _model_arg(s)), s, "all", s.gcl_steps, s.gcl_lr)
  config.train.init_from = os.path.join(out, "graco_init")
  return config


def parts_ft(s, out):
  """SimpleClick¶: every parameter of the object model fine-tuned on GT parts, no granularity."""
  config = _sized(simpleclick_config(_model_arg(s)), s, "part", s.parts_ft_steps,
                  s.parts_ft_lr)
  config.train.init_from = os.path.join(out, "object_model")
  return config


def gcl(s, out):
  """GraCo w/ AGG: LoRA + granularity embedding on AGG proposals plus whole objects (g = 1)."""
  config = _sized(graco_config("agg," + _model_arg(s)), s, "all", s.gcl_steps, s.gcl_lr)
  config.data.source = "gcl"
  config.data.parts = ("agg", "gt")
  config.data.agg_path = os.path.join(out, "proposals")
  config.data.gt_path = os.path.join(out, "objects_store")
  config.data.sampling = "inverse_granularity"
  config.train.init_from = os.path.join(out, "graco_init")
  return config


def agg(s, out):
  """AGG with the official pixel thresholds scaled to the synthetic image size."""
  del out
  config = ml_collections.ConfigDict()
  config.data = object_data(s)
  config.agg = agg_defaults()
  area = s.image_size**2 / (500 * 375)  # official thresholds are for ~500x375 SBD images
  config.agg.input_size = s.image_size
  config.agg.batch_size = s.agg_batch_size
  config.agg.min_click_distance = 10.0 * s.image_size / 448
  config.agg.min_click_area = max(int(400 * area), 8)
  config.agg.min_component_area = max(int(1500 * area), 16)
  config.agg.seed = s.seed
  config.agg_images = s.agg_images
  return config


def evaluation(s, out):
  """The held-out benchmark: thresholds 0.49 for SimpleClick, 0.5 for GraCo; GraCo on objects at
  granularity 1.0, on parts the per-instance best granularity (oracle, which stops at 85% IoU as
  officially). Other runs take every click (the official IoU-analysis mode): the same NoC, since
  clicks are deterministic, full IoU curves, and one compiled loop for objects and parts."""
  del out
  config = ml_collections.ConfigDict()
  config.eval = ml_collections.ConfigDict({
      "val_images": s.val_images, "image_size": s.image_size, "seed": s.seed,
      "objects": s.eval_objects, "parts": s.eval_parts, "min_part_area": s.eval_min_part_area,
      "max_clicks": s.max_clicks, "curve_clicks": (1, 3, 5),
      "pred_thr": {"graco": 0.5, "simpleclick": 0.49},
      "object_granularity": 1.0, "part_target_iou": 0.85,
      # evaluate_dataset's fields: instances per jitted program, exact image size, one chunk;
      # no smaller pool for the last instances: at this size its compilation (about 4 s per
      # loop) costs more than the idle slots it saves (evaluation 84 s without, 92 s with it
      # on a fresh compilation cache; the same clicks)
      "batch_size": 8, "bucket_multiple": 1, "chunk_size": 256, "shrink_pool": False})
  return config


_BUILDERS = {"pretrain": pretrain, "agg": agg, "gcl": gcl, "gcl_gt": gcl_gt,
             "parts_ft": parts_ft, "eval": evaluation}


def get_config(arg=None):
  """'STAGE[,out=DIR][,setting=value...]' -> that stage's config; no stage: the settings."""
  o = parse_arg(arg, {"variant": "", "out": "quickstart_out", **SETTINGS})
  stage, out = o.pop("variant"), o.pop("out")
  s = ml_collections.ConfigDict(o)
  if not stage:
    return ml_collections.ConfigDict({"settings": s, "out": out})
  if stage not in _BUILDERS:
    raise InputError(f"quickstart stage {stage!r}: choose from {STAGES}")
  return _BUILDERS[stage](s, out)
