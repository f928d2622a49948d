"""`graco-jax <command>`: each command lives in the module that owns its work.

A command module exposes `add_arguments(parser)` and `run(args) -> int`. The user's mistakes
(`graco_jax.errors.InputError`) end in one line on stderr and exit status 2, like argparse's own
usage errors; anything else is a bug and keeps its traceback (exit status 1).
"""

import argparse
import importlib
import os
import sys
import traceback

import graco_jax
from graco_jax import hugepages
from graco_jax.errors import InputError

COMMANDS = {
    "segment": ("graco_jax.segment", "segment one image from clicks and a granularity"),
    "quickstart": ("graco_jax.quickstart", "the whole GraCo pipeline on synthetic data, on a CPU"),
    "train": ("graco_jax.training.main", "train SimpleClick or GraCo (GCL) from a config"),
    "import": ("graco_jax.checkpoints.cli", "official PyTorch checkpoint -> orbax checkpoint"),
    "generate": ("graco_jax.agg.generate", "generate AGG part proposals with granularities"),
    "evaluate": ("graco_jax.evaluation.evaluate", "NoC benchmarks of a checkpoint (paper Table 1)"),
    "export": ("graco_jax.export.build", "checkpoint -> a jax.export predictor (StableHLO)"),
    "demo": ("graco_jax.demo.server", "a local web page: click, slide the granularity, download"),
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
  parser.add_argument("--version", action="version", version=f"graco-jax {graco_jax.__version__}")
  subparsers = parser.add_subparsers(dest="command", required=True)
  argv = sys.argv[1:] if argv is None else argv
  # Only the named command's module is imported (the top level has no option taking a value,
  # so the first non-option argument is the command): a quick start and a quick usage error.
  command = next((a for a in argv if not a.startswith("-")), None)
  for name, (module_name, help_text) in COMMANDS.items():
    subparser = subparsers.add_parser(name, help=help_text)
    if name == command:
      module = importlib.import_module(module_name)
      module.add_arguments(subparser)
      subparser.add_argument("--traceback", action="store_true",
                             help="show the traceback of a user error too (for bug reports; "
                             "or set GRACO_JAX_TRACEBACK=1)")
  args, extra = parser.parse_known_args(argv)
  # Only `--config.key=value` overrides may stay unparsed.
  unknown = [a for a in extra if not a.startswith("--config.")]
  if unknown:
    parser.error(f"unrecognized arguments: {' '.join(unknown)}")
  args.config_overrides = extra
  _enable_compilation_cache()
  try:
    return module.run(args) or 0
  except InputError as e:
    if args.traceback or os.environ.get("GRACO_JAX_TRACEBACK", "") not in ("", "0"):
      traceback.print_exc()
    print(f"graco-jax {args.command}: error: {e}", file=sys.stderr)
    if e.hint:
      print(f"hint: {e.hint}", file=sys.stderr)
    return 2


def console_main():
  """The `graco-jax` script and `python -m graco_jax.cli`: a process of its own, which first
  executes itself once more with huge pages for XLA's buffers (hugepages.py). `main` never
  does, so calling it from Python (a notebook, a test) keeps its process."""
  hugepages.reexec_with_huge_pages()
  sys.exit(main())


if __name__ == "__main__":
  console_main()
