#!/usr/bin/env bash
# N graco-jax processes on this machine, each with its own CPU devices, joined through
# jax.distributed (coordinator on localhost, CPU collectives over gloo): a multi-host run
# without a cluster.
#
#   bash launch/local_multiprocess.sh
#       The smoke test of an install: a tiny model trained a few steps on 1 process x 8 devices,
#       on 2 processes x 4 devices, and on 2 processes preempted (SIGTERM to one) after a
#       checkpoint and relaunched; exits non-zero unless the losses and parameters agree.
#   bash launch/local_multiprocess.sh COMMAND [ARGS...]
#       `graco-jax COMMAND ARGS...` on every process, e.g.
#       bash launch/local_multiprocess.sh train --config configs/simpleclick.py:size=tiny,data=cpu \
#         --workdir runs/two_hosts
#
# NUM_PROCESSES (2), DEVICES_PER_PROCESS (4), PORT (a free one), GRACO_JAX (the command,
# default `graco-jax`), PYTHON (python3), LOG_DIR (the processes' logs) and SMOKE_DIR (the smoke
# test's folder; both default to new temporary ones) are read from the environment. The exit status is the first failure's.
set -euo pipefail

NUM_PROCESSES="${NUM_PROCESSES:-2}"
DEVICES_PER_PROCESS="${DEVICES_PER_PROCESS:-4}"
read -r -a GRACO_JAX <<< "${GRACO_JAX:-graco-jax}"
PYTHON="${PYTHON:-python3}"

free_port() {
  "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run_processes DIR COMMAND [ARGS...]: every process's output goes to DIR/process_<i>.log;
# process 0's is also printed. Returns the first non-zero exit status.
run_processes() {
  local logs="$1"
  shift
  local port="${PORT:-$(free_port)}" pids=() status=0 code i
  mkdir -p "$logs"
  for ((i = 0; i < NUM_PROCESSES; i++)); do
    XLA_FLAGS="--xla_force_host_platform_device_count=$DEVICES_PER_PROCESS ${XLA_FLAGS:-}" \
      JAX_PLATFORMS=cpu "${GRACO_JAX[@]}" "$1" --coordinator-address "localhost:$port" \
      --num-processes "$NUM_PROCESSES" --process-id "$i" "${@:2}" > "$logs/process_$i.log" 2>&1 &
    pids+=("$!")
  done
  trap 'kill "${pids[@]}" 2> /dev/null || true' INT TERM
  for i in "${!pids[@]}"; do
    code=0
    wait "${pids[$i]}" || code=$?
    if [ "$code" -ne 0 ]; then
      [ "$status" -ne 0 ] || status="$code"
      echo "process $i failed; its log: $logs/process_$i.log" >&2
      tail -n 20 "$logs/process_$i.log" >&2
    fi
  done
  trap - INT TERM
  cat "$logs/process_0.log"
  return "$status"
}

if [ "$#" -gt 0 ]; then
  logs="${LOG_DIR:-$(mktemp -d)}"
  echo "running: ${GRACO_JAX[*]} $* on $NUM_PROCESSES processes x $DEVICES_PER_PROCESS CPU devices"
  run_processes "$logs" "$@"
  exit $?
fi

# ----- the default smoke test -----
work="${SMOKE_DIR:-$(mktemp -d)}"
mkdir -p "$work"
# Adam eps 1e-3: with the default 1e-8 a rounding-level gradient moves a parameter a whole step
# of either sign, and the runs would differ by the sign of rounding noise (see
# tests/training/test_step.py).
config=(--config "$(dirname "$0")/../configs/simpleclick.py:size=tiny,data=cpu"
  --config.model.depth=2 "--config.model.crop_size=64,64" --config.model.window_size=64
  "--config.data.image_size=64,64" --config.train.batch_size=8 --config.train.num_steps=8
  --config.train.checkpoint_every=2 --config.train.log_every=1 --config.train.progress=False
  --config.train.async_checkpoints=False --config.train.compute_dtype=float32
  --config.train.image_every=0 --config.data.num_workers=0 --config.optimizer.eps=1e-3)
echo "smoke test in $work: ${config[*]}"

echo "1/4: 1 process x 8 devices"
XLA_FLAGS="--xla_force_host_platform_device_count=8" JAX_PLATFORMS=cpu \
  "${GRACO_JAX[@]}" train "${config[@]}" --workdir "$work/one" > "$work/one.log" 2>&1 \
  || { tail -n 20 "$work/one.log"; exit 1; }
echo "2/4: 2 processes x 4 devices"
NUM_PROCESSES=2 DEVICES_PER_PROCESS=4 run_processes "$work/two_logs" train "${config[@]}" \
  --workdir "$work/two" > /dev/null
echo "3/4: 2 processes, SIGTERM to process 1 after the step-4 checkpoint, then relaunched"
NUM_PROCESSES=2 DEVICES_PER_PROCESS=4 run_processes "$work/preempted_logs" train "${config[@]}" \
  --config.train.preempt_at_step=4 --workdir "$work/preempted" > /dev/null
NUM_PROCESSES=2 DEVICES_PER_PROCESS=4 run_processes "$work/resumed_logs" train "${config[@]}" \
  --workdir "$work/preempted" > /dev/null
echo "4/4: comparing"
"$PYTHON" -m graco_jax.training.compare "$work/one" "$work/two" "$work/preempted"
