"""`graco-jax <command>`: each command lives in the module that owns its work.

A command module exposes `add_arguments(parser)` and `run(args) -> int`.
"""

import argparse
import importlib
import os
import sys

COMMANDS = {
    "segment": ("graco_jax.segment", "segment one image from clicks and a granularity"),
    "quickstart": ("graco_jax.quickstart", "the whole GraCo pipeline on synthetic data, on a CPU"),
    "train": ("graco_jax.training.main", "train SimpleClick or GraCo (GCL) from a config"),
    "import": ("graco_jax.checkpoints.cli", "official PyTorch checkpoint -> orbax checkpoint"),
    "generate": ("graco_jax.agg.generate", "generate AGG part proposals with granularities"),
    "evaluate": ("graco_jax.evaluation.evaluate", "NoC benchmarks of a checkpoint (paper Table 1)"),
}


def _enable_compilation_cache():
  """Persistent XLA compilation cache, so a second run of any command does not recompile:
  $GRACO_JAX_XLA_CACHE (a folder, or 'off'), else $XDG_CACHE_HOME/graco-jax/xla, else
  ~/.cache/graco-jax/xla; JAX's own JAX_COMPILATION_CACHE_DIR wins when set."""
  folder = os.environ.get("GRACO_JAX_XLA_CACHE", "")
  if folder.lower() in ("off", "0", "none") or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    return
  if not folder:
    cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(cache_home, "graco-jax", "xla")
  import jax
  jax.config.update("jax_compilation_cache_dir", folder)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


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
  _enable_compilation_cache()
  return modules[args.command].run(args) or 0


if __name__ == "__main__":
  sys.exit(main())
