"""`graco-jax <command>`: each command lives in the module that owns its work.

A command module exposes `add_arguments(parser)` and `run(args) -> int`.
"""

import argparse
import importlib
import sys

COMMANDS = {
    "segment": ("graco_jax.segment", "segment one image from clicks and a granularity"),
    "quickstart": ("graco_jax.quickstart", "the whole GraCo pipeline on synthetic data, on a CPU"),
    "train": ("graco_jax.training.main", "train SimpleClick or GraCo (GCL) from a config"),
    "import": ("graco_jax.checkpoints.cli", "official PyTorch checkpoint -> orbax checkpoint"),
    "generate": ("graco_jax.agg.generate", "generate AGG part proposals with granularities"),
    "evaluate": ("graco_jax.evaluation.evaluate", "NoC benchmarks of a checkpoint (paper Table 1)"),
    "demo": ("graco_jax.demo.server", "a local web page: click, slide the granularity, download"),
}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="graco-jax", description=__doc__.splitlines()[0])
  subparsers = parser.add_subparsers(dest="command", required=True)
  modules = {}
  for name, (module_name, help_text) in COMMANDS.items():
    module = importlib.import_module(module_name)
    modules[name] = module
    module.add_arguments(subparsers.add_parser(name, help=help_text))
  args, extra = parser.parse_known_args(argv)
  # Only `--config.key=value` overrides may stay unparsed.
  unknown = [a for a in extra if not a.startswith("--config.")]
  if unknown:
    parser.error(f"unrecognized arguments: {' '.join(unknown)}")
  args.config_overrides = extra
  return modules[args.command].run(args) or 0


if __name__ == "__main__":
  sys.exit(main())
