"""GraCo ViT-huge at crop 448: SimpleClick + granularity embedding + LoRA (rank 8, q and v).

Model (`config.model`, used by `graco-jax segment`):
  graco-jax segment --config configs/graco_vit_huge448.py --image IN.jpg --click 120,200,+ \
      --granularity 0.4 --out mask.png [--checkpoint DIR]

Training: the GCL recipe of configs/graco_vit_base448.py (same arguments: 'gt' | 'agg' |
'gt+agg', ',lora=False', ',gra_embed=False', ',rank=N') at ViT-H; the paper reports no ViT-H
row, so there is no expected result to match.
  graco-jax train --config configs/graco_vit_huge448.py:agg --workdir runs/graco_h_agg \
      --config.train.init_from=runs/simpleclick_huge --config.data.path=/data/SBD/dataset \
      --config.data.agg_path=/data/agg_store
"""

from graco_jax.training.defaults import graco_config


def get_config(arg=None):
  return graco_config("huge", arg)
