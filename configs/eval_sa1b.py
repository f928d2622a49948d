"""Paper Table 2: NoC on the first 1000 SA-1B images, 5 non-overlapping masks each.

  graco-jax evaluate --config configs/eval_sa1b.py:base --checkpoint runs/graco_b_agg \
      --config.eval.paths.SA1B=/data/SA1B   # DIR/images/*.jpg, DIR/annotations/*.json
GraCo oracle over 0.1..1.0, threshold 0.5, zoom-in 448 + flip, stop at 0.90. Expected GraCo
ViT-B NoC@90 comparable to SAM's (paper Table 2). The images are large (shortest side 1500):
bucket_multiple 128 keeps the number of compiled shapes small. Argument: backbone size;
'simpleclick' suffix (e.g. 'base,simpleclick') evaluates a SimpleClick model instead.
"""

import ml_collections

from graco_jax.evaluation.evaluate import eval_defaults
from graco_jax.model import model_config


def get_config(arg=None):
  size, _, variant = (arg or "base").partition(",")
  simpleclick = variant == "simpleclick"
  config = ml_collections.ConfigDict()
  config.model = model_config(size, granularity=not simpleclick, lora_rank=0 if simpleclick else 8)
  config.eval = eval_defaults(("SA1B",), 0.5, oracle=not simpleclick)
  config.eval.bucket_multiple = 128
  config.eval.batch_size = 4
  config.eval.method_name = f"{'SimpleClick' if simpleclick else 'GraCo'} ViT-{size[0].upper()}"
  return config
