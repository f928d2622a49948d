"""`graco-jax train --config configs/<name>.py[:arg] --workdir DIR [--config.a.b=value ...]`.

Thin entry point (Flax-examples style): parse, load the config, call `loop.train`. Running the
same command again in the same workdir resumes from its latest checkpoint.
"""

import json

from graco_jax import parallel
from graco_jax.config_utils import load_config


def add_arguments(parser):
  parser.add_argument("--config", required=True, help="configs/<name>.py[:arg]")
  parser.add_argument("--workdir", required=True, help="checkpoints, logs and model_config.json")
  parallel.add_distributed_arguments(parser)


def run(args) -> int:
  parallel.initialize_from_args(args)
  from graco_jax.training import loop  # after the distributed start-up
  config = load_config(args.config, args.config_overrides)
  result = loop.train(config, args.workdir)
  summary = {"step": result["step"], "preempted": result["preempted"], **result["metrics"]}
  print(json.dumps(summary, sort_keys=True))
  return 0
