"""A fast end-to-end check of the evaluation pipeline: a tiny GraCo model at crop 224 on real
GrabCut (randomly initialised without --checkpoint, so the numbers only show the plumbing).

  graco-jax evaluate --config configs/eval_quick.py --workdir /tmp/eval_quick \
      --config.eval.paths.GrabCut=../shared/data/grabcut --limit 8
About a minute on a 2-core CPU for 8 instances x 5 clicks at granularity 0.5.
"""

import ml_collections

from graco_jax.evaluation.evaluate import eval_defaults
from graco_jax.model import model_config


def get_config(arg=None):
  config = ml_collections.ConfigDict()
  config.model = model_config("tiny", granularity=True, lora_rank=8, crop_size=224)
  config.eval = eval_defaults(("GrabCut",), 0.5, oracle=False)
  config.eval.granularity = 0.5
  config.eval.max_clicks = 5
  config.eval.target_size = 224
  config.eval.davis_target_size = 224
  config.eval.min_crop_size = 100
  config.eval.batch_size = 4
  config.eval.method_name = "GraCo ViT-T (random init)"
  return config
