"""`graco-jax evaluate`: NoC benchmarks of a checkpoint on the datasets of an eval config.

  graco-jax evaluate --config configs/eval_graco.py:base --checkpoint runs/graco_b_agg \
      --workdir runs/graco_b_agg/eval --config.eval.paths.GrabCut=/data/GrabCut

Writes WORKDIR/results.json (summaries), WORKDIR/results.md (the paper's Table 1 layout),
WORKDIR/instances_<dataset>.npz (per-instance IoUs, clicks, granularity) and PNG plots
(iou_vs_clicks.png; iou_vs_granularity.png with eval.granularity_curves).
"""

import argparse
import time

import jax
import ml_collections
import numpy as np
import tqdm

from graco_jax import io
from graco_jax import config_utils, parallel, predictor as predictor_lib
from graco_jax.data import registry
from graco_jax.evaluation import noc, report
from graco_jax.model import create_model, init_params


PATHS = ("GrabCut", "Berkeley", "SBD", "DAVIS", "PascalPart", "PartImageNet", "SA1B", "COCO_MVal",
         "TFDS")  # TFDS: the data dir of every 'tfds:NAME' dataset (empty: TFDS's default)


def eval_defaults(datasets, pred_thr, oracle=True) -> ml_collections.ConfigDict:
  """The `config.eval` fields every configs/eval_*.py starts from (official cvpr mode)."""
  ev = ml_collections.ConfigDict()
  ev.datasets = tuple(datasets)
  ev.paths = ml_collections.ConfigDict({name: "" for name in PATHS})
  ev.max_clicks = 20
  ev.pred_thr = pred_thr
  ev.oracle = oracle  # GraCo: per-instance best granularity over 0.1..1.0
  ev.granularity = 1.0  # the fixed granularity when not oracle (ignored by SimpleClick models)
  ev.target_iou = 0.90  # official --target-iou default; the loop stops there
  ev.part_target_iou = 0.85  # official: parts evaluate NoC@85 only
  ev.iou_analysis = False  # True: never stop (official --iou-analysis), for mIoU-per-click curves
  ev.target_size = 448  # official ZoomIn target (cvpr mode)
  ev.expansion_ratio = 1.4
  ev.min_crop_size = 200
  ev.davis_target_size = 672
  ev.with_flip = True
  ev.batch_size = 8  # instances per jitted program (rounded up to the device count)
  ev.bucket_multiple = 0  # 0: one size bucket at the largest image (one compiled program)
  ev.shrink_pool = True  # the last instances of a bucket move to a smaller pool (one more program)
  ev.chunk_size = 256  # instances read from disk at a time
  ev.num_devices = 0  # 0: all devices
  ev.granularity_curves = False  # paper Fig. 4 IoU-granularity curves (10 more runs)
  ev.curve_clicks = (1, 3, 5)
  ev.method_name = ""
  ev.tfds_split = "validation"  # of 'tfds:NAME' datasets, any TFDS split, e.g. 'validation[:500]'
  return ev


def _path_key(name: str) -> str:
  """The eval.paths field of a dataset: its name, or TFDS for every 'tfds:NAME' dataset."""
  return "TFDS" if name.startswith(registry.TFDS_PREFIX) else name


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--config", required=True, help="eval config (configs/eval_*.py[:arg])")
  parser.add_argument("--checkpoint", help="checkpoint directory (graco-jax train / import); "
                      "without it the config's model is randomly initialised (smoke runs)")
  parser.add_argument("--workdir", default=None, help="output folder (default CHECKPOINT/eval)")
  parser.add_argument("--limit", type=int, default=None, help="first N instances per dataset")
  parser.add_argument("--seed", type=int, default=0, help="seed of the random init")
  parallel.add_distributed_arguments(parser)


def evaluate_dataset(predictor, source, eval_config, *, granularity, target_iou, mesh,
                     limit=None, desc="", progress=True, on_instances=None):
  """Runs the protocol over a dataset source in chunks; returns (result dict, elapsed seconds).
  `on_instances(done, total)` is called as instances finish."""
  num = len(source) if limit is None else min(limit, len(source))
  chunk = eval_config.chunk_size
  parts = []
  start_time = time.perf_counter()
  with tqdm.tqdm(total=num, desc=desc, unit="inst", disable=not progress or jax.process_index() != 0) as bar:
    for start in range(0, num, chunk):
      records = [source[i] for i in range(start, min(num, start + chunk))]
      done = [0]

      def progress(n, done=done):
        bar.update(n - done[0])
        done[0] = n
        if on_instances is not None:
          on_instances(bar.n, num)

      parts.append(noc.run_click_protocol(
          predictor, [r["image"] for r in records], [r["mask"] for r in records],
          max_clicks=eval_config.max_clicks, pred_thr=eval_config.pred_thr,
          granularity=granularity, mesh=mesh, target_iou=target_iou,
          batch_size=eval_config.batch_size, bucket_multiple=eval_config.bucket_multiple,
          shrink_pool=eval_config.shrink_pool, progress=progress))
  elapsed = time.perf_counter() - start_time
  result = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
  return result, elapsed


def run(args) -> int:
  """Every process evaluates every instance over all devices; process 0 writes the reports."""
  parallel.initialize_from_args(args)
  config = config_utils.load_config(args.config, args.config_overrides)
  ev = config.eval
  # Every dataset folder is checked before a model is built or anything compiles.
  sources = {name: registry.eval_source(name, ev.paths.get(_path_key(name), ""), ev.tfds_split)
             for name in ev.datasets}
  if args.checkpoint:
    from graco_jax.checkpoints import load_for_inference
    model_config, variables = load_for_inference(args.checkpoint)
  else:
    model_config = config.model
    variables = init_params(model_config, jax.random.PRNGKey(args.seed))
    print("no --checkpoint: evaluating a randomly initialised model (smoke run)")
  workdir = args.workdir or io.join(args.checkpoint or ".", "eval")
  writes = jax.process_index() == 0
  mesh = parallel.make_mesh(ev.get("num_devices") or None)
  variables = parallel.put(variables, parallel.replicated(mesh))
  model = create_model(model_config)
  granularity = None
  if model_config.use_granularity:
    granularity = "oracle" if ev.oracle else float(ev.granularity)

  summaries, clicks_curves, gra_curves = {}, {}, {}
  for name, source in sources.items():
    size = ev.davis_target_size if name == "DAVIS" else ev.target_size
    predictor = predictor_lib.zoom_in_flip(
        model.apply, variables, target_size=(size, size), with_flip=ev.with_flip,
        expansion_ratio=ev.expansion_ratio, min_crop_size=ev.min_crop_size)
    target_iou = None if ev.iou_analysis else (
        ev.part_target_iou if name in report.PART_DATASETS else ev.target_iou)
    result, elapsed = evaluate_dataset(predictor, source, ev, granularity=granularity,
                                       target_iou=target_iou, mesh=mesh, limit=args.limit,
                                       desc=name)
    summary = noc.summarize(result["ious"], ev.max_clicks)
    summary["elapsed_s"] = elapsed
    summary["seconds_per_click"] = elapsed / max(1, int(result["num_clicks"].sum()))
    summary["target_iou"] = target_iou
    if granularity is not None:
      values, counts = np.unique(np.round(result["granularity"], 1), return_counts=True)
      summary["granularity_histogram"] = {f"{v:.1f}": int(c) for v, c in zip(values, counts)}
    summaries[name] = summary
    clicks_curves[name] = summary["miou_per_click"]
    if writes:
      io.write_npz(io.join(workdir, f"instances_{name}.npz"), result)
    print(f"{name}: NoC@85 {summary['noc@85']:.2f} NoC@90 {summary['noc@90']:.2f} "
          f"IoU@1 {summary['iou@1']:.4f} ({summary['num_instances']} instances, {elapsed:.1f} s)")
    if ev.granularity_curves and model_config.use_granularity:
      num = len(source) if args.limit is None else min(args.limit, len(source))
      records = [source[i] for i in range(num)]
      gra_curves[name] = noc.granularity_curves(
          predictor, [r["image"] for r in records], [r["mask"] for r in records],
          clicks=tuple(ev.curve_clicks), pred_thr=ev.pred_thr, mesh=mesh,
          batch_size=ev.batch_size, bucket_multiple=ev.bucket_multiple,
          shrink_pool=ev.shrink_pool)

  method = ev.get("method_name") or (args.checkpoint or "random-init")
  table = report.markdown_table(method, summaries, ev.max_clicks)
  print(table)
  if not writes:
    return 0
  report.write_json(io.join(workdir, "results.json"),
                    {"method": method, "config": config.to_dict(), "datasets": summaries,
                     "granularity_curves": gra_curves})
  table = report.markdown_table(method, summaries, ev.max_clicks)
  io.atomic_write_bytes(io.join(workdir, "results.md"), table.encode("utf-8"))
  report.plot_iou_vs_clicks(io.join(workdir, "iou_vs_clicks.png"), {method: clicks_curves})
  if gra_curves:
    report.plot_iou_vs_granularity(io.join(workdir, "iou_vs_granularity.png"),
                                   {method: gra_curves})
  print(table)
  print(f"wrote {workdir}/results.json, results.md and plots")
  return 0
