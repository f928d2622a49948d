"""SimpleClick ViT-base at crop 448: the object-level model GraCo starts from (no granularity).

Model (`config.model`, used by `graco-jax segment`):
  graco-jax segment --config configs/simpleclick_vit_base448.py --image IN.jpg \
      --click 120,200,+ --out mask.png [--checkpoint DIR]

Training reproduces the object-level SimpleClick ViT-B of Table 1 trained on SBD (full
fine-tuning, Adam 5e-5, x0.1 at epoch 50 of 55, batch 32, NFL, 24 initial points at most,
0-3 iterative clicks, objects under 80 px dropped). Expected NoC@85/90: GrabCut 1.40/1.54, Berkeley 1.44/2.46, SBD 3.28/5.24, DAVIS 4.10/5.48.
Start from the MAE pre-trained ViT (`--config.train.init_from=mae_pretrain_vit_base.pth`, read
without torch; the position embedding is interpolated from 224 to 448 bicubically). Argument: 'lrd=True' for layer-wise lr decay 0.75 with weight
decay 0.02 (official --layerwise-decay). Optional official per-image sample weights:
`--config.data.sampling=weights_file --config.data.weights_file=scores.json` (gamma 1.25).
  graco-jax train --config configs/simpleclick_vit_base448.py --workdir runs/simpleclick_base \
      --config.data.path=/data/SBD/dataset --config.train.init_from=mae_pretrain_vit_base.pth
Hardware and time: the official recipe is 55 SBD epochs on 4 GPUs; see benchmarks/RESULTS.md
for our step rate.
"""

from graco_jax.training.defaults import simpleclick_config


def get_config(arg=None):
  return simpleclick_config("base", arg)
