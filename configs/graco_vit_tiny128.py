"""GraCo ViT-tiny at crop 128 on the synthetic part world: GCL on one CPU.

Stage 2 of the CPU quickstart: from the stage-1 SimpleClick checkpoint, only LoRA and the
granularity embedding train (300 steps of batch 8) on objects, parts and sub-parts with their
granularity. Same arguments as configs/graco_vit_base448.py for the model variants
('gt,lora=False', 'agg,rank=16', ...); the data is always synthetic.
  graco-jax train --config configs/graco_vit_tiny128.py --workdir runs/graco_tiny128 \
      --config.train.init_from=runs/simpleclick_tiny128
"""

from graco_jax.training.defaults import cpu_sized, graco_config


def get_config(arg=None):
  return cpu_sized(graco_config("tiny", arg, crop_size=128), "all")
