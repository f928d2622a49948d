"""GraCo ViT-large at crop 448: SimpleClick + granularity embedding + LoRA (rank 8, q and v).

Model (`config.model`, used by `graco-jax segment` with any argument):
  graco-jax segment --config configs/graco_vit_large448.py --image IN.jpg --click 120,200,+ \
      --granularity 0.4 --out mask.png [--checkpoint DIR]

Training reproduces the ViT-L GraCo rows of Table 1 (GCL: only LoRA and the granularity
embedding train, from an object-level SimpleClick ViT-L checkpoint; Adam 5e-5, x0.1 at epoch
50 of 55, batch 32, NFL, 0-3 iterative clicks, proposals sampled inversely to their
granularity's frequency). The argument picks the row and the ablations:
  'gt'       GraCo w/ GT      (expected NoC@85/90 GrabCut 1.74/1.88, SBD 3.49/4.90, PascalPart@85 5.81)
  'agg'      GraCo w/ AGG     (GrabCut 1.18/1.24, SBD 2.73/3.96, PascalPart@85 6.12; the default)
  'gt+agg'   GraCo w/ GT+AGG  (GrabCut 1.18/1.20, SBD 2.69/3.96, PascalPart@85 6.00)
  ',lora=False'       no LoRA = full fine-tuning (Table 3)
  ',gra_embed=False'  no granularity embedding (Table 3; both off = SimpleClick fine-tuned on parts)
  ',rank=4|16|32'     LoRA rank (Table C)
  ',objects=False'    no SBD whole objects (granularity 1.0) mixed in
e.g. 'gt,lora=False', 'agg,rank=16'. Command (one 8-GPU host, or see launch/ for pods):
  graco-jax train --config configs/graco_vit_large448.py:agg --workdir runs/graco_l_agg \
      --config.train.init_from=runs/simpleclick_l --config.data.path=/data/SBD/dataset \
      --config.data.agg_path=/data/agg_store [--config.data.gt_path=/data/VOC2010]
(gt_path: a PascalPart root, VOC2010 with Annotations_Part/, whose train list gives GT
objects and parts with granularity = part / object area; or a GT part proposal store.)
Hardware and time: the official run takes 55 epochs of SBD (8498 images, 265 steps of 32 per
epoch) on 8 GPUs; at our measured step rate see benchmarks/RESULTS.md. Evaluate with
`graco-jax evaluate` over granularities 0.1..1.0 for the NoC numbers above.
"""

from graco_jax.training.defaults import graco_config


def get_config(arg=None):
  return graco_config("large", arg)
