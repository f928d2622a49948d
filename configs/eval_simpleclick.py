"""NoC evaluation of SimpleClick (no granularity input), the single-granularity rows of Table 1.

  graco-jax evaluate --config configs/eval_simpleclick.py:base --checkpoint runs/simpleclick_b \
      --config.eval.paths.GrabCut=/data/GrabCut ...
SimpleClick's own protocol: threshold 0.49, 20 clicks, zoom-in 448 (672 DAVIS) + flip. (The
GraCo paper's evaluate.py passes 0.5 for every model; set --config.eval.pred_thr=0.5 to compare
with its Table 1 numbers.) Expected ViT-B NoC@85/90: GrabCut 1.40/1.54, SBD 3.28/5.24 (SimpleClick
paper). The argument is the backbone size.
"""

import ml_collections

from graco_jax.evaluation.evaluate import eval_defaults
from graco_jax.model import model_config


def get_config(arg=None):
  size = arg or "base"
  config = ml_collections.ConfigDict()
  config.model = model_config(size, granularity=False, lora_rank=0)
  config.eval = eval_defaults(
      ("GrabCut", "Berkeley", "SBD", "DAVIS", "PascalPart", "PartImageNet"), 0.49, oracle=False)
  config.eval.method_name = f"SimpleClick ViT-{size[0].upper()}"
  return config
