"""SimpleClick ViT-tiny at crop 448: the object-level model GraCo starts from (no granularity).

Model (`config.model`, used by `graco-jax segment`):
  graco-jax segment --config configs/simpleclick_vit_tiny448.py --image IN.jpg \
      --click 120,200,+ --out mask.png [--checkpoint DIR]

Training: the object-level recipe at tiny size on synthetic scenes (all objects of an image,
merged with probability 0.15 as in the official sampler), at the real crop size. For a quick
CPU run use configs/simpleclick_vit_tiny128.py.
  graco-jax train --config configs/simpleclick_vit_tiny448.py --workdir runs/simpleclick_tiny448
"""

from graco_jax.training.defaults import simpleclick_config, synthetic_data


def get_config(arg=None):
  config = simpleclick_config("tiny", arg)
  synthetic_data(config, "object", num_images=1000, image_size=256)
  config.train.batch_size = 8
  config.train.compute_dtype = "float32"
  config.train.num_epochs = 10
  config.optimizer.milestones = (8, 10)
  return config
