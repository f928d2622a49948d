"""GraCo ViT-huge at crop 448: SimpleClick + granularity embedding + LoRA (rank 8, q and v).

Model definition only here; training, AGG and evaluation configs build on it.
  graco-jax segment --config configs/graco_vit_huge448.py --image IN.jpg --click 120,200,+ \
      --granularity 0.4 --out mask.png [--checkpoint DIR]
"""

import ml_collections

from graco_jax.model import model_config


def get_config(arg=None) -> ml_collections.ConfigDict:
  del arg
  config = ml_collections.ConfigDict()
  config.model = model_config("huge", granularity=True, lora_rank=8, crop_size=448)
  return config
