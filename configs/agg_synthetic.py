"""AGG on the synthetic part world: proposals without any download (quickstart, CPU checks).

  graco-jax generate --config configs/agg_synthetic.py --checkpoint runs/simpleclick_tiny128 \
      --out proposals/synthetic [--config.data.num_images=200]
On 2 CPU cores with a ViT-tiny at 128 px: a few seconds per batch of 16 instances.
The official pixel thresholds (400 px for a new click, 1500 px for an eligible component) are
scaled by the area ratio of a 128 x 128 image to a typical 500 x 375 SBD image.
"""

import ml_collections

from graco_jax.agg.generate import default_config


def get_config(arg=None) -> ml_collections.ConfigDict:
  del arg
  config = ml_collections.ConfigDict()
  config.data = ml_collections.ConfigDict({
      "source": "synthetic_scenes", "split": "train", "num_images": 200,
      "image_size": (128, 128), "seed": 0})
  config.agg = default_config()
  config.agg.min_click_area = 35
  config.agg.min_component_area = 130
  config.agg.min_click_distance = 5.0
  return config
