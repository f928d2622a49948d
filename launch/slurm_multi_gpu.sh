#!/usr/bin/env bash
# Multi-GPU training with SLURM: one process per node, each driving all of its node's GPUs.
#
#   sbatch --nodes=2 --gpus-per-node=8 --ntasks-per-node=1 --cpus-per-task=32 \
#     launch/slurm_multi_gpu.sh configs/graco.py:agg,size=large runs/graco_l_agg \
#       --config.train.init_from=runs/simpleclick_large --config.data.path=/data/SBD/dataset \
#       --config.data.agg_path=/data/agg_store
#
# On a single GPU box (no SLURM) run the command directly; JAX uses every local GPU:
#   graco-jax train --config configs/graco.py:agg,size=base --workdir runs/graco_b_agg ...
#
# With `--distributed`, jax.distributed.initialize() reads the coordinator address, process
# count and process index from the SLURM environment (SLURM_* variables). WORKDIR must be on a
# filesystem shared by all nodes. `--signal=TERM@120` asks SLURM to send SIGTERM two minutes
# before the time limit: the run writes a checkpoint and exits; resubmitting resumes it.
#SBATCH --job-name=graco-jax
#SBATCH --signal=TERM@120
set -euo pipefail
CONFIG="$1"
WORKDIR="$2"
shift 2
srun --kill-on-bad-exit=1 graco-jax train --distributed --config "$CONFIG" --workdir "$WORKDIR" \
  --config.data.num_workers=8 "$@"
