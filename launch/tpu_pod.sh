#!/usr/bin/env bash
# Train on a multi-host TPU pod slice: every worker runs the same command.
#
#   gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone "$ZONE" --worker=all --command \
#     "cd graco-jax && bash launch/tpu_pod.sh configs/graco.py:agg,size=base gs://BUCKET/runs/graco_b_agg \
#        --config.train.init_from=gs://BUCKET/runs/simpleclick_b --config.data.path=/data/SBD/dataset \
#        --config.data.agg_path=/data/agg_store"
#
# `--distributed` makes each worker call jax.distributed.initialize(), which reads the pod's
# coordinator, process count and index from the TPU environment. Each worker reads its own
# slice of every global batch (config.train.batch_size is global); the data must be readable
# from every worker (a shared disk or a copy per worker). Only worker 0 writes logs;
# checkpoints are written collectively by orbax to the shared WORKDIR (use a GCS path).
# Preemption: the TPU runtime sends SIGTERM; the run checkpoints and exits, and re-running the
# same command resumes from the latest checkpoint.
set -euo pipefail
CONFIG="$1"
WORKDIR="$2"
shift 2
exec graco-jax train --distributed --config "$CONFIG" --workdir "$WORKDIR" "$@"
