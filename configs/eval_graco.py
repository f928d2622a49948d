"""NoC evaluation of GraCo (paper Table 1): per-instance best granularity over 0.1..1.0.

Reproduces the GraCo rows of Table 1 from a checkpoint (trained, or imported from the released
official weights with `graco-jax import`):
  graco-jax evaluate --config configs/eval_graco.py:base --checkpoint runs/graco_b_agg \
      --config.eval.paths.GrabCut=/data/GrabCut --config.eval.paths.Berkeley=/data/Berkeley \
      --config.eval.paths.SBD=/data/SBD/dataset --config.eval.paths.DAVIS=/data/DAVIS \
      --config.eval.paths.PascalPart=/data/PascalPart --config.eval.paths.PartImageNet=/data/PartImageNet
Protocol as the official evaluate.py with --graco (cvpr mode): threshold 0.5, 20 clicks,
zoom-in to 448 (672 on DAVIS) with flip averaging, the loop stopping at IoU 0.90 (0.85 on the
part datasets, where only NoC@85 is reported). Expected for GraCo w/ AGG ViT-B: GrabCut
1.34/1.46, SBD 3.44/4.89, PascalPart NoC@85 6.38 (paper). Time: the 10-granularity sweep costs up
to 10x a plain evaluation; see benchmarks/RESULTS.md for measured instances/s.
The argument is the backbone size (tiny, base, large, huge).
"""

import ml_collections

from graco_jax.evaluation.evaluate import eval_defaults
from graco_jax.model import model_config


def get_config(arg=None):
  size = arg or "base"
  config = ml_collections.ConfigDict()
  config.model = model_config(size, granularity=True, lora_rank=8)
  config.eval = eval_defaults(
      ("GrabCut", "Berkeley", "SBD", "DAVIS", "PascalPart", "PartImageNet"), 0.5, oracle=True)
  config.eval.method_name = f"GraCo ViT-{size[0].upper()}"
  return config
