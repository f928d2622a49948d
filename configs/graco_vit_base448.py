"""GraCo ViT-base at crop 448: SimpleClick + granularity embedding + LoRA (rank 8, q and v).

Model (`config.model`, used by `graco-jax segment` with any argument):
  graco-jax segment --config configs/graco_vit_base448.py --image IN.jpg --click 120,200,+ \
      --granularity 0.4 --out mask.png [--checkpoint DIR]

Training reproduces the ViT-B GraCo rows of Table 1 (GCL: only LoRA and the granularity
embedding train, from an object-level SimpleClick ViT-B checkpoint; Adam 5e-5, x0.1 at epoch
50 of 55, batch 32, NFL, 0-3 iterative clicks, proposals sampled inversely to their
granularity's frequency). The argument picks the row and the ablations:
  'gt'       GraCo w/ GT      (expected NoC@85/90 GrabCut 1.46/1.64, SBD 3.82/5.35, PascalPart@85 6.12)
  'agg'      GraCo w/ AGG     (GrabCut 1.34/1.46, SBD 3.44/4.89, PascalPart@85 6.38; the default)
  'gt+agg'   GraCo w/ GT+AGG  (GrabCut 1.24/1.36, SBD 3.22/4.65, PascalPart@85 6.08)
  ',lora=False'       no LoRA = full fine-tuning (Table 3)
  ',gra_embed=False'  no granularity embedding (Table 3; both off = SimpleClick fine-tuned on parts)
  ',rank=4|16|32'     LoRA rank (Table C)
  ',objects=False'    no SBD whole objects (granularity 1.0) mixed in
e.g. 'gt,lora=False', 'agg,rank=16'. Command (one 8-GPU host, or see launch/ for pods):
  graco-jax train --config configs/graco_vit_base448.py:agg --workdir runs/graco_b_agg \
      --config.train.init_from=runs/simpleclick_b --config.data.path=/data/SBD/dataset \
      --config.data.agg_path=/data/agg_store [--config.data.gt_path=/data/VOC2010]
(gt_path: a PascalPart root, VOC2010 with Annotations_Part/, whose train list gives GT
objects and parts with granularity = part / object area; or a GT part proposal store.)
Hardware and time: the official run takes 55 epochs of SBD (8498 images, 265 steps of 32 per
epoch) on 4 GPUs; at our measured step rate see benchmarks/RESULTS.md. Evaluate with
`graco-jax evaluate` over granularities 0.1..1.0 for the NoC numbers above.
"""

from graco_jax.training.defaults import graco_config


def get_config(arg=None):
  return graco_config("base", arg)
