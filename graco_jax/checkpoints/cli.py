"""`graco-jax import`: official PyTorch checkpoint (+ LoRA file) -> our orbax checkpoint.

  graco-jax import --checkpoint sbd_vit_base.pth --lora GraCo_base_lora.pth --out DIR
  graco-jax segment --config configs/graco.py:size=base --checkpoint DIR ...

The .pth files are read without torch and without running any code they contain.
"""

import argparse
import json


from graco_jax import io
from graco_jax.checkpoints.manager import save_params
from graco_jax.checkpoints.official import read_official
from graco_jax.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--checkpoint", required=True,
                      help="official checkpoint (.pth), e.g. sbd_vit_base.pth")
  parser.add_argument("--lora", help="official LoRA file applied on top, e.g. GraCo_base_lora.pth")
  parser.add_argument("--out", required=True, help="output directory (orbax checkpoint + config)")
  parser.add_argument("--step", type=int, default=0, help="step number of the written checkpoint")
  parser.add_argument("--allow-unknown-globals", action="store_true",
                      help="read tensors even when the pickle names unexpected globals "
                           "(they stay inert; nothing is executed)")


def run(args) -> int:
  if args.config_overrides:
    raise InputError("graco-jax import takes the architecture from the checkpoint; "
                     f"drop {' '.join(args.config_overrides)}")
  model_config, variables, report = read_official(
      args.checkpoint, args.lora, allow_unknown_globals=args.allow_unknown_globals)
  save_params(args.out, model_config, variables, step=args.step)
  if report.phrase:  # the semantic-phrase branch, unused by our model, kept beside it
    io.write_npz(io.join(args.out, "phrase_branch.npz"), report.phrase)
  report_path = io.join(args.out, "import_report.json")
  text = json.dumps({"checkpoint": io.abspath(args.checkpoint),
                     "lora": io.abspath(args.lora) if args.lora else None,
                     "loaded": report.loaded, "skipped": report.skipped,
                     "phrase_branch": sorted(report.phrase),
                     "replaced_by_lora": report.overridden}, indent=1)
  io.atomic_write_bytes(report_path, text.encode("utf-8"))
  print(f"wrote {args.out}: {model_config.size} model, crop {tuple(model_config.crop_size)}, "
        f"granularity {model_config.use_granularity}, LoRA rank {model_config.lora.rank}; "
        f"{report.summary()} (details in {report_path})")
  return 0
