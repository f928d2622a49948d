"""SimpleClick ViT-huge at crop 448: the object-level model GraCo starts from (no granularity).

Model (`config.model`, used by `graco-jax segment`):
  graco-jax segment --config configs/simpleclick_vit_huge448.py --image IN.jpg \
      --click 120,200,+ --out mask.png [--checkpoint DIR]

Training reproduces the object-level SimpleClick ViT-H of Table 1 trained on SBD (full
fine-tuning, Adam 5e-5, x0.1 at epoch 50 of 55, batch 32, NFL, 24 initial points at most,
0-3 iterative clicks, objects under 80 px dropped). Expected NoC@85/90: not reported in the GraCo paper.
Start from the MAE pre-trained ViT (`--config.train.init_from=mae_pretrain_vit_huge.pth`, read
without torch; position embedding interpolated 224 -> 448). Argument: 'lrd=True' for layer-wise lr decay 0.75 with weight
decay 0.02 (official --layerwise-decay). Optional official per-image sample weights:
`--config.data.sampling=weights_file --config.data.weights_file=scores.json` (gamma 1.25).
  graco-jax train --config configs/simpleclick_vit_huge448.py --workdir runs/simpleclick_huge \
      --config.data.path=/data/SBD/dataset --config.train.init_from=mae_pretrain_vit_huge.pth
Hardware and time: the official recipe is 55 SBD epochs on 8 GPUs; see benchmarks/RESULTS.md
for our step rate.
"""

from graco_jax.training.defaults import simpleclick_config


def get_config(arg=None):
  return simpleclick_config("huge", arg)
