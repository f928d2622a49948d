"""SimpleClick ViT-tiny at crop 448: the object-level model GraCo starts from (no granularity).

  graco-jax segment --config configs/simpleclick_vit_tiny448.py --image IN.jpg \
      --click 120,200,+ --out mask.png [--checkpoint DIR]
"""

import ml_collections

from graco_jax.model import model_config


def get_config(arg=None) -> ml_collections.ConfigDict:
  del arg
  config = ml_collections.ConfigDict()
  config.model = model_config("tiny", granularity=False, lora_rank=0, crop_size=448)
  return config
