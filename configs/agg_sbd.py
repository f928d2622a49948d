"""AGG on SBD train (paper section 3.2): part proposals with granularity for GCL training.

The engine model is the object-level SimpleClick ViT-B (paper: "The IS model employed in AGG is
SimpleClick with ViT-Base"), e.g. the imported official SimpleClick weights:
  graco-jax generate --config configs/agg_sbd.py --checkpoint runs/simpleclick_base448 \
      --out proposals/sbd --config.data.path=/data/SBD/dataset
Resumable: rerun the same command after an interruption. `:official` reproduces the official
script instead of the paper text: 2-4 negative clicks, no click distance check, the official
loader's granularity (the scale bin).

Output: ~2 proposals per instance (loop proposal + complement) for the 20,172 SBD train
objects kept by the buggy-mask filter; the training config reads the store with
data.source='proposals' (or data.agg_path in 'gcl').
"""

import ml_collections

from graco_jax.agg.generate import default_config


def get_config(arg=None) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.data = ml_collections.ConfigDict({
      "source": "sbd", "path": "data/SBD/dataset", "split": "train", "buggy_mask_thresh": 0.08})
  config.agg = default_config()
  config.agg.batch_size = 32
  if arg == "official":
    config.agg.min_iters, config.agg.max_iters = 2, 4
    config.agg.min_click_distance = 0.0
    config.agg.combination = "official"
  elif arg:
    raise ValueError(f"configs/agg_sbd.py: unknown argument {arg!r} (use 'official' or none)")
  return config
