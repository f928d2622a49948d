"""GraCo ViT-tiny at crop 448: SimpleClick + granularity embedding + LoRA (rank 8, q and v).

Model (`config.model`, used by `graco-jax segment`):
  graco-jax segment --config configs/graco_vit_tiny448.py --image IN.jpg --click 120,200,+ \
      --granularity 0.4 --out mask.png [--checkpoint DIR]

Training: the GCL recipe at tiny size on the synthetic part world (parts and sub-parts with
their granularity, sampled inversely to granularity frequency), for pipeline checks at the
real crop size. Same arguments as configs/graco_vit_base448.py for the model variants; the
data is always synthetic. For a quick CPU run use configs/graco_vit_tiny128.py.
  graco-jax train --config configs/graco_vit_tiny448.py --workdir runs/graco_tiny448 \
      --config.train.init_from=runs/simpleclick_tiny448
"""

from graco_jax.training.defaults import graco_config, synthetic_data


def get_config(arg=None):
  config = graco_config("tiny", arg)
  synthetic_data(config, "all", num_images=1000, image_size=256)
  config.train.batch_size = 8
  config.train.compute_dtype = "float32"
  config.train.num_epochs = 10
  config.optimizer.milestones = (8, 10)
  return config
