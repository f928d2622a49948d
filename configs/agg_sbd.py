"""AGG on SBD train (paper section 3.2): part proposals with granularity for GCL training.

The engine model is the object-level SimpleClick ViT-B (paper: "The IS model employed in AGG is
SimpleClick with ViT-Base"), e.g. the imported official SimpleClick weights:
  graco-jax generate --config configs/agg_sbd.py --checkpoint runs/simpleclick_base448 \
      --out proposals/sbd --config.data.path=/data/SBD/dataset
Resumable: rerun the same command after an interruption.

`:official` reproduces the official script (any_granularity_generator.py) instead of the paper
text. Our default differs from it in:
  - clicks: 3..6 loop iterations with 10 px between clicks (paper) vs 2..4 negative clicks with
    no distance check (official);
  - holes: the loop proposal's holes are filled (paper: "morphological processing to eliminate
    mask holes") vs not filled (official PartPredictor.solve);
  - granularity: Eq. 6 (paper) vs the official loader's blend, which is the scale bin;
  - a probability map flat over the object: the scale granularity stands in for the semantic
    one (ours: a flat map carries no semantic evidence, and a NaN would leave Eq. 6 undefined)
    vs the official division (1.0 for x / 0 after its min(., 1), NaN for 0 / 0; a NaN never
    changes the official blend).
Both drop an empty loop proposal, which the official keeps with granularity [0, 0] and never
samples (see graco_jax/agg/store.py). Scale rounding (np.round, halves to even) is the same.

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
    config.agg.fill_holes = False
    config.agg.flat_semantic = "official"
    config.agg.combination = "official"
  elif arg:
    raise ValueError(f"configs/agg_sbd.py: unknown argument {arg!r} (use 'official' or none)")
  return config
