"""`graco-jax quickstart`: the whole GraCo pipeline on the synthetic part world, on a CPU.

Five stages, each resumable (training from its orbax checkpoints, AGG from its store, every
evaluation from its JSON file), all through the project's own entry points:

  1. pre-train a tiny object-level SimpleClick on synthetic objects  (training.loop.train)
  2. AGG on the training objects -> proposal store               (agg.generate.generate)
  3. GCL (LoRA + granularity embedding, base frozen) on the proposals and whole objects, and
     the SimpleClick¶ baseline: the object model fully fine-tuned on GT parts, no granularity
  4. NoC evaluation on held-out images, objects and parts          (evaluation.noc)
  5. report.md (paper Table 1 layout at toy scale), results.json and figures

Everything lands in --out (default quickstart_out/); flags scale a run up or down (steps, image
size, model size, data).
"""

import argparse
import json
import os
import time

import jax
import ml_collections
import numpy as np
import tqdm

from graco_jax.data.image_io import atomic_write_bytes
from graco_jax.data.sources.synthetic import SyntheticScenes, SyntheticSource
from graco_jax.errors import InputError

MODELS = ("SimpleClick", "SimpleClick¶", "GraCo w/ AGG")


def default_settings() -> ml_collections.ConfigDict:
  """Quickstart settings, sized for about 10 minutes on 2 dedicated CPU cores: the smallest run
  we measured that shows the paper's claims (tests/test_quickstart.py runs exactly this)."""
  return ml_collections.ConfigDict({
      "seed": 0,
      "image_size": 128,
      "model_size": "tiny",
      "patch_size": 16,
      "train_images": 600,
      "val_images": 40,
      "batch_size": 8,
      # Constant learning rates: pre-training and SimpleClick¶ (same lr) then compile to the
      # same train step, which the persistent compilation cache shares.
      "pretrain_steps": 2000,
      "pretrain_lr": 1e-3,
      "gcl_steps": 800,
      # LoRA + granularity embedding are ~1% of the parameters; at 1e-3 the embedding barely
      # moves in 800 steps (IoU@1 on objects 0.36 at g=0.1 vs 0.42 at g=1.0), at 3e-3 it
      # controls the mask (0.09 vs 0.59).
      "gcl_lr": 3e-3,
      "parts_ft_steps": 600,
      "parts_ft_lr": 1e-3,
      "agg_images": 300,  # training images whose objects AGG parses
      "agg_batch_size": 16,
      "eval_objects": 48,
      "eval_parts": 48,
      # Parts smaller than one ViT token (16x16 px) are left out of the part benchmark: even a
      # perfect stride-4 prediction reaches 85% IoU on only about half of them.
      "eval_min_part_area": 256,
      "max_clicks": 20,
      "curve_clicks": (1, 3, 5),
      "progress": True,
  })


# ---------------------------------------------------------------------------------------------
# Data


def object_data_config(s) -> ml_collections.ConfigDict:
  """The `config.data` of the synthetic training objects (graco_jax.data.registry.build_source);
  proposal stores record it so their reader rebuilds the images."""
  return ml_collections.ConfigDict({
      "source": "synthetic", "level": "object", "split": "train", "num_images": s.train_images,
      "image_size": (s.image_size, s.image_size), "seed": s.seed})


def write_object_store(source, data_config, store_dir: str, limit: int) -> int:
  """Whole objects at granularity 1.0 as a proposal store: GCL mixes them in with the AGG
  proposals (the official GCL loader does the same with SBD objects). Returns its size."""
  from graco_jax.data import proposal_store as store
  store.write_meta(store_dir, {"source": repr(source), "num_records": len(source),
                               "config": {"kind": "ground-truth whole objects"},
                               "data": data_config.to_dict()})
  if store.chunk_files(store_dir):
    return len(store.read_proposals(store_dir))
  proposals, done = [], []
  for i in range(limit):
    record = source[i]
    mask = record["mask"] == 1
    proposals.append(store.make_proposal(
        index=i, rank=0, source_index=i, image_id=record["image_id"],
        object_id=record["object_id"], image_path=None, mask=mask,
        object_area=int(mask.sum()), scale_granularity=1.0, semantic_granularity=1.0,
        granularity=1.0))
    done.append(i)
  store.write_chunk(store_dir, 0, 0, done, proposals)
  return len(proposals)


# ---------------------------------------------------------------------------------------------
# Training configs: the project's CPU recipe (training.defaults) with the quickstart's sizes.


def _sized(config, s, level, steps, lr):
  from graco_jax.training.defaults import cpu_sized
  cpu_sized(config, level, crop_size=s.image_size, num_steps=steps)
  config.model.patch_size = s.patch_size
  config.seed = s.seed
  config.data.num_images = s.train_images
  config.data.seed = s.seed
  config.train.batch_size = s.batch_size
  config.train.progress = s.progress
  config.train.max_num_next_clicks = 1
  config.train.checkpoint_every = max(steps // 4, 1)
  config.train.log_every = max(steps // 10, 1)
  config.train.async_checkpoints = False
  config.optimizer.learning_rate = lr
  config.optimizer.schedule = "constant"
  return config


def pretrain_config(s):
  from graco_jax.training.defaults import simpleclick_config
  return _sized(simpleclick_config(f"size={s.model_size},crop={s.image_size}"), s, "object",
                s.pretrain_steps, s.pretrain_lr)


def parts_ft_config(s, out):
  """SimpleClick¶: every parameter of the object model fine-tuned on GT parts, no granularity."""
  from graco_jax.training.defaults import simpleclick_config
  config = _sized(simpleclick_config(f"size={s.model_size},crop={s.image_size}"), s, "part",
                  s.parts_ft_steps, s.parts_ft_lr)
  config.train.init_from = os.path.join(out, "object_model")
  return config


def gcl_config(s, out):
  """GraCo w/ AGG: LoRA + granularity embedding on AGG proposals plus whole objects (g = 1)."""
  from graco_jax.training.defaults import graco_config
  config = _sized(graco_config(f"agg,size={s.model_size},crop={s.image_size}"), s, "all",
                  s.gcl_steps, s.gcl_lr)
  config.data.source = "gcl"
  config.data.parts = ("agg", "gt")
  config.data.agg_path = os.path.join(out, "proposals")
  config.data.gt_path = os.path.join(out, "objects_store")
  config.data.sampling = "inverse_granularity"
  config.train.init_from = os.path.join(out, "graco_init")
  return config


def write_gcl_init(s, out) -> str:
  """GraCo's starting point: the object model with fresh LoRA factors (B = 0) and a zero
  granularity embedding, so GCL starts from exactly the object model's predictions.

  (A fresh N(0, 1) embedding, the official init, adds a large random vector to every token of
  the frozen tiny ViT; the few GCL steps of the quickstart do not recover from it.)
  """
  from graco_jax import checkpoints
  from graco_jax.training import loop, optim
  workdir = os.path.join(out, "graco_init")
  if checkpoints.latest_step(workdir) is None:
    config = gcl_config(s, out)
    config.train.init_from = os.path.join(out, "object_model")
    flat = optim.flatten(loop.load_initial_variables(config, jax.random.PRNGKey(s.seed)))
    flat = {k: (np.zeros_like(v) if "gra_embed" in k.split("/") else v) for k, v in flat.items()}
    checkpoints.save_params(workdir, config.model, optim.unflatten(flat))
  return workdir


def _train(config, workdir, name):
  from graco_jax import checkpoints
  from graco_jax.training import loop
  if checkpoints.latest_step(workdir) == config.train.num_steps:
    print(f"{name}: complete in {workdir}, skipped")
    return
  print(f"{name}: {config.train.num_steps} steps of batch {config.train.batch_size} -> {workdir}")
  loop.train(config, workdir)


# ---------------------------------------------------------------------------------------------
# Stages


def stage_pretrain(s, out):
  _train(pretrain_config(s), os.path.join(out, "object_model"), "[1/5] object-level pre-training")


def agg_config(s):
  """AGG settings with the official pixel thresholds scaled to the synthetic image size."""
  from graco_jax.agg.generate import default_config
  config = default_config()
  area = s.image_size**2 / (500 * 375)  # official thresholds are for ~500x375 SBD images
  config.input_size = s.image_size
  config.batch_size = s.agg_batch_size
  config.min_click_distance = 10.0 * s.image_size / 448
  config.min_click_area = max(int(400 * area), 8)
  config.min_component_area = max(int(1500 * area), 16)
  config.seed = s.seed
  return config


def stage_agg(s, out):
  from graco_jax.agg.generate import generate
  from graco_jax.data.registry import build_source
  print("[2/5] AGG: proposals from the object-level model on the training objects")
  data_config = object_data_config(s)
  source = build_source(data_config)
  # The objects of the first `agg_images` training images (instances are in image order).
  limit = sum(1 for i in range(len(source)) if source.locate(i)[0] < s.agg_images)
  _, predictor = _model(out, "SimpleClick")
  summary = generate(agg_config(s), predictor, source, os.path.join(out, "proposals"),
                     data_config=data_config, progress=s.progress, limit=limit)
  write_object_store(source, data_config, os.path.join(out, "objects_store"), limit)
  return summary


def stage_gcl(s, out):
  write_gcl_init(s, out)
  _train(gcl_config(s, out), os.path.join(out, "graco"), "[3/5] GCL (GraCo w/ AGG)")


def stage_parts_ft(s, out):
  _train(parts_ft_config(s, out), os.path.join(out, "simpleclick_parts"),
         "[3/5] SimpleClick¶ (object model fine-tuned on GT parts)")


def _eval_set(s, level, limit):
  """`limit` held-out instances of `level`, spread evenly over the val images (parts of at
  least `eval_min_part_area` pixels)."""
  min_area = {"min_area": s.eval_min_part_area} if level == "part" else {}
  source = SyntheticSource(level, "val", s.val_images, (s.image_size, s.image_size), s.seed,
                           **min_area)
  pick = np.unique(np.linspace(0, len(source) - 1, min(limit, len(source))).round().astype(int))
  records = [source[int(i)] for i in pick]
  return records


WORKDIRS = {"SimpleClick": "object_model", "SimpleClick¶": "simpleclick_parts",
            "GraCo w/ AGG": "graco"}


def _model(out, name):
  """(model_config, plain Predictor) of a trained model: the quickstart's images are the crop
  size. Predictors are equal for equal architectures, so the models share one compiled loop."""
  from graco_jax import checkpoints, predictor
  model_config, variables = checkpoints.load_for_inference(os.path.join(out, WORKDIRS[name]))
  return model_config, predictor.for_model(model_config, variables, "plain")


def _protocol(predictor, records, desc, progress, **kwargs):
  from graco_jax.evaluation import noc
  bar = tqdm.tqdm(total=len(records), desc=desc, disable=not progress, dynamic_ncols=True)
  result = noc.run_click_protocol(
      predictor, [r["image"] for r in records], [r["mask"] for r in records],
      progress=lambda done: bar.update(done - bar.n), **kwargs)
  bar.close()
  return result


def _json_ready(tree):
  if isinstance(tree, dict):
    return {k: _json_ready(v) for k, v in tree.items()}
  if isinstance(tree, (list, tuple)):
    return [_json_ready(v) for v in tree]
  if isinstance(tree, np.ndarray):
    return _json_ready(tree.tolist())
  if isinstance(tree, (np.floating, float)):
    return None if not np.isfinite(tree) else float(tree)
  if isinstance(tree, (np.integer, np.bool_)):
    return tree.item()
  return tree


def _write_json(path, data):
  text = json.dumps(_json_ready(data), indent=1, ensure_ascii=False, allow_nan=False)
  atomic_write_bytes(path, (text + "\n").encode("utf-8"))


def _evaluate_one(s, out, name, level, records):
  """NoC run of one model on one level, cached in out/eval/<model>_<level>.json."""
  from graco_jax.evaluation import noc
  tag = {"SimpleClick": "simpleclick", "SimpleClick¶": "simpleclick_parts",
         "GraCo w/ AGG": "graco_agg"}[name]
  path = os.path.join(out, "eval", f"{tag}_{level}.json")
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  model_config, predictor = _model(out, name)
  graco = bool(model_config.use_granularity)
  # Thresholds 0.49 for SimpleClick, 0.5 for GraCo; GraCo on objects at granularity 1.0, on
  # parts the per-instance best granularity (oracle, which stops at 85% IoU as officially).
  # Other runs take every click (the official IoU-analysis mode): the same NoC, since clicks
  # are deterministic, full IoU curves, and one compiled loop for objects and parts.
  oracle = graco and level == "parts"
  kwargs = dict(max_clicks=s.max_clicks, pred_thr=0.5 if graco else 0.49,
                target_iou=0.85 if oracle else None, bucket_multiple=1)
  if graco:
    kwargs["granularity"] = "oracle" if oracle else 1.0
  result = _protocol(predictor, records, f"eval {name} {level}", s.progress, **kwargs)
  thresholds = (0.85, 0.90) if level == "objects" else (0.85,)
  entry = {"model": name, "level": level,
           "summary": noc.summarize(result["ious"], s.max_clicks, thresholds),
           "ious": result["ious"], "num_clicks": result["num_clicks"],
           "granularity": result["granularity"],
           "true_granularity": [float(r["granularity"]) for r in records],
           "noc85": noc.noc_per_instance(result["ious"], 0.85, s.max_clicks)}
  _write_json(path, entry)
  with open(path, encoding="utf-8") as f:
    return json.load(f)


def _granularity_curves(s, out, level, records):
  from graco_jax.evaluation import noc
  path = os.path.join(out, "eval", f"graco_agg_{level}_granularity.json")
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      return json.load(f)
  _, predictor = _model(out, "GraCo w/ AGG")
  print(f"IoU-granularity curves on {len(records)} {level} (10 granularities)")
  curves = noc.granularity_curves(predictor, [r["image"] for r in records],
                                  [r["mask"] for r in records], clicks=tuple(s.curve_clicks),
                                  pred_thr=0.5, bucket_multiple=1)
  _write_json(path, curves)
  return curves


def stage_evaluate(s, out):
  print("[4/5] evaluation on held-out synthetic images")
  sets = {"objects": _eval_set(s, "object", s.eval_objects),
          "parts": _eval_set(s, "part", s.eval_parts)}
  table = {name: {level: _evaluate_one(s, out, name, level, records)
                  for level, records in sets.items()} for name in MODELS}
  curves = {level: _granularity_curves(s, out, level, records) for level, records in sets.items()}
  return table, curves, sets


def granularity_strip(s, out):
  """GraCo at granularities 0.1..1.0 from one click on a held-out part."""
  from graco_jax.interaction.clicks import add_click, empty_clicks
  from graco_jax.model import GRANULARITY_BINS
  from graco_jax.quickstart_report import plot_granularity_strip, strip_example
  scenes = SyntheticScenes("val", s.val_images, (s.image_size, s.image_size), s.seed)
  scene, node, (y, x) = strip_example(scenes)
  _, predictor = _model(out, "GraCo w/ AGG")
  n = len(GRANULARITY_BINS)
  images = np.repeat(scene.image[None].astype(np.float32) / 255.0, n, axis=0)
  clicks = add_click(empty_clicks(n, 1), np.full(n, y), np.full(n, x), np.ones(n, bool))
  probs, _ = jax.jit(predictor.apply)(
      predictor.variables, images, clicks, np.zeros(images.shape[:3] + (1,), np.float32),
      np.asarray(GRANULARITY_BINS, np.float32), ())
  probs = np.asarray(probs)[..., 0]
  plot_granularity_strip(scene.image, probs, (y, x), node.name,
                         os.path.join(out, "granularity_strip.png"))
  return {"image_id": scene.image_id, "part": node.name, "click": [y, x],
          "true_granularity": node.granularity,
          "iou_with_part": [float(((p > 0.5) & scene.masks[node.node_id]).sum()
                                  / max(((p > 0.5) | scene.masks[node.node_id]).sum(), 1))
                            for p in probs],
          "iou_with_object": [float(((p > 0.5) & scene.masks[node.object_id]).sum()
                                    / max(((p > 0.5) | scene.masks[node.object_id]).sum(), 1))
                              for p in probs]}


def stage_report(s, out, table, curves, timings):
  from graco_jax import quickstart_report as report
  print("[5/5] report")
  results = {"settings": s.to_dict(), "timings": timings, "table": table,
             "iou_vs_granularity": curves, "strip": granularity_strip(s, out)}
  results["claims"] = report.claims(table)
  report.plot_iou_vs_clicks(table, os.path.join(out, "iou_vs_clicks.png"))
  report.plot_iou_vs_granularity(curves, os.path.join(out, "iou_vs_granularity.png"))
  report.plot_optimal_granularity(table["GraCo w/ AGG"]["parts"],
                                  os.path.join(out, "optimal_granularity.png"))
  _write_json(os.path.join(out, "results.json"), results)
  atomic_write_bytes(os.path.join(out, "report.md"), report.markdown(results).encode("utf-8"))
  return results


# ---------------------------------------------------------------------------------------------
# Driver


def _check_settings(s, out):
  """A resumed run must use the settings of the run it resumes."""
  path = os.path.join(out, "settings.json")
  current = json.loads(json.dumps(_json_ready(s.to_dict())))
  current.pop("progress")
  if os.path.exists(path):
    with open(path, encoding="utf-8") as f:
      previous = json.load(f)
    if previous != current:
      changed = sorted(k for k in set(previous) | set(current)
                       if previous.get(k) != current.get(k))
      raise InputError(f"{out} holds a quickstart run with other settings ({path}; changed: "
                       f"{changed}); use another --out or delete it")
  else:
    _write_json(path, current)


def run_quickstart(s, out: str) -> dict:
  """Runs (or resumes) every stage; returns the results dict also written to results.json."""
  os.makedirs(out, exist_ok=True)
  _check_settings(s, out)
  timings_path = os.path.join(out, "timings.json")
  timings = {}
  if os.path.exists(timings_path):
    with open(timings_path, encoding="utf-8") as f:
      timings = json.load(f)

  def timed(name, fn, *args):
    start = time.perf_counter()
    value = fn(*args)
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - start
    _write_json(timings_path, timings)
    return value

  timed("1 pre-train object model", stage_pretrain, s, out)
  timed("2 AGG proposals", stage_agg, s, out)
  timed("3a GCL (GraCo w/ AGG)", stage_gcl, s, out)
  timed("3b fine-tune on parts (SimpleClick¶)", stage_parts_ft, s, out)
  table, curves, _ = timed("4 evaluation", stage_evaluate, s, out)
  results = timed("5 report", stage_report, s, out, table, curves, timings)
  timings["total"] = sum(v for k, v in timings.items() if k != "total")
  results["timings"] = timings
  _write_json(timings_path, timings)
  _write_json(os.path.join(out, "results.json"), results)
  from graco_jax.quickstart_report import markdown
  atomic_write_bytes(os.path.join(out, "report.md"), markdown(results).encode("utf-8"))
  return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--out", default="quickstart_out", help="output folder (resumed if present)")
  defaults = default_settings()
  for key, value in defaults.items():
    if key == "progress" or isinstance(value, tuple):
      continue
    parser.add_argument("--" + key.replace("_", "-"), type=type(value), default=None,
                        help=f"(default: {value})")
  parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def settings_from_args(args) -> ml_collections.ConfigDict:
  s = default_settings()
  for key in s:
    value = getattr(args, key, None)
    if value is not None:
      s[key] = value
  s.progress = not args.no_progress
  return s


def enable_compilation_cache(out: str) -> None:
  """Persistent XLA cache under out/: a resumed run, and every click loop of one architecture
  after the first (granularity sweeps, baselines), skip compilation."""
  jax.config.update("jax_compilation_cache_dir", os.path.abspath(os.path.join(out, "jax_cache")))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def run(args) -> int:
  s = settings_from_args(args)
  enable_compilation_cache(args.out)
  start = time.perf_counter()
  results = run_quickstart(s, args.out)
  print(open(os.path.join(args.out, "report.md"), encoding="utf-8").read())
  print(f"quickstart finished in {time.perf_counter() - start:.0f} s (this invocation); "
        f"outputs in {args.out}/")
  return 0 if results else 1
