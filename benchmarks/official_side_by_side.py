"""GrabCut evaluation side by side with the official PyTorch GraCo code, on the same CPU.

Three steps, each its own process (so each timing includes its own start-up and compilation):

  python benchmarks/official_side_by_side.py export --checkpoint /tmp/tiny.pth
  python benchmarks/official_side_by_side.py ours --checkpoint /tmp/tiny.pth --grabcut G
  python benchmarks/official_side_by_side.py official --checkpoint /tmp/tiny.pth --grabcut G \
      --official /tmp/graco_official      # Zhao-Yian/GraCo @ 8001f0f, unmodified

`export` writes a random-init official-format GraCo checkpoint with our `export_official`
(dim 64, depth 12, 448 crop); both evaluators then run the same work: zoom-in + flip, threshold
0.5, granularity 1.0, 20 clicks, stop at IoU 0.90. `official` calls the official
`evaluate_dataset` with the arguments its evaluate.py passes (NoBRS predictor, cvpr zoom-in at
448); its imports need opencv, easydict and loralib, and stand-ins (on PYTHONPATH) for the mmcv
ConvModule, three timm helpers, torchvision's ToTensor and the training-only packages it imports.
`ours` enables the CLIs' persistent compilation cache: its first run compiles, the next ones load.
Each step prints one JSON object.
"""

import argparse
import json
import os
import platform
import sys
import time

import numpy as np


def _machine():
  load = os.getloadavg()
  return dict(cpus=os.cpu_count(), machine=platform.machine(), python=platform.python_version(),
              load_average=[round(x, 2) for x in load])


def export(args):
  import jax
  from graco_jax.checkpoints import export_official
  from graco_jax.model import init_params, model_config
  config = model_config("tiny", granularity=True, lora_rank=8, crop_size=448)
  config.embed_dim, config.depth, config.num_heads = 64, 12, 4
  config.neck_dims, config.head_channels = (16, 32, 64, 128), 32
  params = init_params(config, jax.random.PRNGKey(0))
  export_official(config, params, args.checkpoint)
  print(json.dumps(dict(step="export", checkpoint=args.checkpoint)))


def ours(args):
  start = time.perf_counter()
  from graco_jax import cli
  cli._enable_compilation_cache()
  import jax
  from graco_jax import predictor as predictor_lib
  from graco_jax.checkpoints import import_official
  from graco_jax.data.sources.grabcut import GrabCutSource
  from graco_jax.evaluation import noc
  config, variables = import_official(args.checkpoint)
  source = GrabCutSource(args.grabcut)
  records = [source[i] for i in range(min(args.limit or len(source), len(source)))]
  predictor = predictor_lib.for_model(config, variables)
  stats = {}
  run_start = time.perf_counter()
  result = noc.run_click_protocol(
      predictor, [r["image"] for r in records], [r["mask"] for r in records], max_clicks=20,
      pred_thr=0.5, granularity=1.0, target_iou=0.90, batch_size=args.batch_size,
      bucket_multiple=args.bucket_multiple, stats=stats)
  end = time.perf_counter()
  print(json.dumps(dict(
      step="ours", instances=len(records), seconds=end - start, run_seconds=end - run_start,
      instances_per_s=len(records) / (end - start), batch_size=args.batch_size,
      instance_clicks=int(result["num_forwards"].sum()), noc90=noc.noc(result["ious"], 0.9),
      jax=jax.__version__, xla_flags=os.environ.get("XLA_FLAGS", ""), **stats, **_machine())))


def official(args):
  start = time.perf_counter()
  sys.path.insert(0, args.official)
  import torch
  torch.set_num_threads(args.threads)
  from isegm.data.datasets import GrabCutDataset
  from isegm.inference import utils
  from isegm.inference.evaluation import evaluate_dataset
  from isegm.inference.predictors import get_predictor
  from isegm.model.modeling.pos_embed import interpolate_pos_embed_inference
  dataset = GrabCutDataset(args.grabcut)
  if args.limit:
    dataset.dataset_samples = dataset.dataset_samples[:args.limit]
  model = utils.load_is_model(args.checkpoint, "cpu", False)
  zoom_in = {"skip_clicks": -1, "target_size": (448, 448)}  # evaluate.py, eval_mode 'cvpr'
  interpolate_pos_embed_inference(model.backbone, zoom_in["target_size"], "cpu")
  predictor = get_predictor(model, "NoBRS", "cpu", prob_thresh=0.5, predictor_params={},
                            zoom_in_params=zoom_in)
  all_ious, elapsed = evaluate_dataset(dataset, predictor, graco=False, sam_type=None,
                                       oracle=False, gra=1.0, phrase=None, pred_thr=0.5,
                                       max_iou_thr=0.90, min_clicks=1, max_clicks=20)
  end = time.perf_counter()
  ious = np.stack([np.pad(np.asarray(i), (0, 20 - len(i)), mode="edge") for i in all_ious])
  reached = ious >= 0.9
  noc90 = float(np.where(reached.any(1), reached.argmax(1) + 1, 20).mean())
  print(json.dumps(dict(
      step="official", instances=len(all_ious), seconds=end - start, run_seconds=elapsed,
      instances_per_s=len(all_ious) / (end - start),
      instance_clicks=int(sum(map(len, all_ious))), noc90=noc90, torch=torch.__version__,
      threads=torch.get_num_threads(),
      aten_cpu_capability=os.environ.get("ATEN_CPU_CAPABILITY", ""), **_machine())))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("step", choices=("export", "ours", "official"))
  parser.add_argument("--checkpoint", required=True)
  parser.add_argument("--grabcut", default="../shared/data/grabcut")
  parser.add_argument("--official", default="/tmp/graco_official")
  parser.add_argument("--limit", type=int, default=0, help="first N instances (0: all 50)")
  parser.add_argument("--batch-size", type=int, default=8)
  parser.add_argument("--bucket-multiple", type=int, default=0)
  parser.add_argument("--threads", type=int, default=2, help="torch threads")
  args = parser.parse_args()
  {"export": export, "ours": ours, "official": official}[args.step](args)


if __name__ == "__main__":
  main()
