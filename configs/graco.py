"""GraCo: SimpleClick + granularity embedding + LoRA (rank 8 on q and v), trained by GCL.

The argument picks the size, the Table 1 row and the ablations (big_vision style,
comma-separated; the first item may be the row):
  size=tiny|base|large|huge  (default base)   crop=448 (the model's crop size)
  'gt'       GraCo w/ GT
  'agg'      GraCo w/ AGG (the default)
  'gt+agg'   GraCo w/ GT+AGG
  lora=False        no LoRA = full fine-tuning (Table 3)
  gra_embed=False   no granularity embedding (Table 3; both off = SimpleClick fine-tuned on parts)
  rank=4|16|32      LoRA rank (Table C)
  objects=False     no SBD whole objects (granularity 1.0) mixed in
  data=real|synthetic|cpu   the paper's data (default); the synthetic part world at the real
                    crop; a few-minute CPU run on the synthetic world at crop 128 (size=tiny)
e.g. 'agg,size=large', 'gt,lora=False', 'agg,rank=16', 'size=tiny,data=cpu'.

Model only (`config.model`, used by `graco-jax segment`):
  graco-jax segment --config configs/graco.py:size=base --image IN.jpg --click 120,200,+ \
      --granularity 0.4 --out mask.png [--checkpoint DIR]

Training (GCL: only LoRA and the granularity embedding train, from an object-level SimpleClick
checkpoint; Adam 5e-5, x0.1 at epoch 50 of 55, batch 32, NFL, 0-3 iterative clicks, an image
then a proposal by inverse granularity frequency as the official loader samples):
  graco-jax train --config configs/graco.py:agg,size=base --workdir runs/graco_b_agg \
      --config.train.init_from=runs/simpleclick_b --config.data.path=/data/SBD/dataset \
      --config.data.agg_path=/data/agg_store [--config.data.gt_path=/data/VOC2010]
(gt_path: a PascalPart root, VOC2010 with Annotations_Part/, whose train list gives GT objects
and parts with granularity = part / object area; or a GT part proposal store.)
Hardware and time: the official run takes 55 epochs of SBD (8498 images, 265 steps of 32 per
epoch) on 4 GPUs (ViT-B) or 8 (ViT-L); our step rate is in benchmarks/RESULTS.md. Evaluate
with configs/eval_graco.py (per-instance best granularity over 0.1..1.0).

Expected NoC@85/90 (paper Table 1):
  | row | size | GrabCut | SBD | PascalPart@85 |
  | GraCo w/ GT | base | 1.46/1.64 | 3.82/5.35 | 6.12 |
  | GraCo w/ AGG | base | 1.34/1.46 | 3.44/4.89 | 6.38 |
  | GraCo w/ GT+AGG | base | 1.24/1.36 | 3.22/4.65 | 6.08 |
  | GraCo w/ GT | large | 1.74/1.88 | 3.49/4.90 | 5.81 |
  | GraCo w/ AGG | large | 1.18/1.24 | 2.73/3.96 | 6.12 |
  | GraCo w/ GT+AGG | large | 1.18/1.20 | 2.69/3.96 | 6.00 |
ViT-H and ViT-T have no paper row. data=cpu: about two minutes on 2 cores for 300 steps.
"""

from graco_jax.training.defaults import graco_config


def get_config(arg=None):
  return graco_config(arg)
