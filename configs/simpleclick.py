"""SimpleClick: the object-level model GraCo starts from (no granularity, no LoRA).

The argument (comma-separated key=value): size=tiny|base|large|huge (default base), crop=448,
lrd=True for layer-wise lr decay 0.75 with weight decay 0.02 (official --layerwise-decay),
data=real|synthetic|cpu (the paper's SBD; the synthetic scenes at the real crop; a few-minute
CPU run on synthetic scenes at crop 128, with size=tiny).

Model only (`config.model`, used by `graco-jax segment`):
  graco-jax segment --config configs/simpleclick.py:size=base --image IN.jpg \
      --click 120,200,+ --out mask.png [--checkpoint DIR]

Training reproduces the object-level SimpleClick of Table 1 trained on SBD (full fine-tuning,
Adam 5e-5, x0.1 at epoch 50 of 55, batch 32, NFL, 24 initial points at most, 0-3 iterative
clicks, objects under 80 px dropped), from the MAE pre-trained ViT (read without torch; the
position embedding is interpolated from 224 to 448 bicubically):
  graco-jax train --config configs/simpleclick.py:size=base --workdir runs/simpleclick_b \
      --config.data.path=/data/SBD/dataset --config.train.init_from=mae_pretrain_vit_base.pth
Optional official per-image sample weights:
`--config.data.sampling=weights_file --config.data.weights_file=scores.json` (gamma 1.25).
Hardware and time: the official recipe is 55 SBD epochs on 4 (ViT-B) or 8 GPUs (ViT-L, ViT-H);
our step rate is in benchmarks/RESULTS.md. data=cpu: a minute or two on 2 cores for 300 steps.

Expected NoC@85/90: ViT-B GrabCut 1.40/1.54, Berkeley 1.44/2.46, SBD 3.28/5.24, DAVIS
4.10/5.48; ViT-L GrabCut 1.38/1.46, Berkeley 1.40/2.33, SBD 2.69/4.46, DAVIS 4.12/5.39.
"""

from graco_jax.training.defaults import simpleclick_config


def get_config(arg=None):
  return simpleclick_config(arg)
