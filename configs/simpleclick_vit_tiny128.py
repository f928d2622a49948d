"""SimpleClick ViT-tiny at crop 128 on synthetic scenes: object-level training on one CPU.

Stage 1 of the CPU quickstart: 300 steps of batch 8 (about a minute or two on 2 cores, see
benchmarks/RESULTS.md) take the training IoU of a random-init tiny model from ~0.2 to ~0.5+.
  graco-jax train --config configs/simpleclick_vit_tiny128.py --workdir runs/simpleclick_tiny128
"""

from graco_jax.training.defaults import cpu_sized, simpleclick_config


def get_config(arg=None):
  return cpu_sized(simpleclick_config("tiny", arg, crop_size=128), "object")
