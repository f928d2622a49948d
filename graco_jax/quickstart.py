"""`graco-jax quickstart`: the recipe configs/quickstart.py run end to end, then the report.

The stages run through the same functions as the entry points a user runs (`graco-jax train`
is `loop.train`, `graco-jax generate` is `agg.generate.generate`, the benchmark is
`evaluate.evaluate_dataset` and `noc.granularity_curves`), each resumable: training from its
orbax checkpoints, AGG from its store, every evaluation from its JSON file. This module adds
only what the recipe needs between them (GraCo's starting point, the whole-object store) and
the report (graco_jax/quickstart_report.py).
"""

import argparse
import json
import os
import time

import jax
import ml_collections
import numpy as np
import tqdm

from graco_jax import checkpoints, config_utils, io, parallel, predictor as predictor_lib
from graco_jax import quickstart_report
from graco_jax.agg import generate as agg_generate
from graco_jax.data import pipeline, proposal_store, registry
from graco_jax.data.sources.synthetic import SyntheticScenes, SyntheticSource, spread_instances
from graco_jax.errors import InputError
from graco_jax.evaluation import evaluate, noc, report
from graco_jax.interaction.clicks import add_click, empty_clicks
from graco_jax.model import GRANULARITY_BINS
from graco_jax.training import loop, optim, step as step_lib

RECIPE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs",
                      "quickstart.py")
MODELS = ("SimpleClick", "SimpleClick¶", "GraCo w/ AGG", "GraCo w/ GT")
WORKDIRS = {"SimpleClick": "object_model", "SimpleClick¶": "simpleclick_parts",
            "GraCo w/ AGG": "graco", "GraCo w/ GT": "graco_gt"}
TAGS = {"SimpleClick": "simpleclick", "SimpleClick¶": "simpleclick_parts",
        "GraCo w/ AGG": "graco_agg", "GraCo w/ GT": "graco_gt"}


class Recipe:
  """The stage configs of one run: `configs/quickstart.py:STAGE,out=OUT,<settings arg>`."""

  def __init__(self, spec: str, out: str, progress: bool = True):
    path, _, arg = spec.partition(":")
    self.path, self.arg, self.out, self.progress = path, arg, out, progress
    self.settings = self.stage("").settings

  def stage(self, name: str) -> ml_collections.ConfigDict:
    arg = ",".join(a for a in (name, f"out={self.out}", self.arg) if a)
    config = config_utils.load_config(f"{self.path}:{arg}")
    if "train" in config:
      config.train.progress = False  # the pipeline bar shows the progress; the loop logs
    return config


# ---------------------------------------------------------------------------------------------
# What the recipe needs between the entry points


def write_object_store(source, data_config, store_dir: str, limit: int) -> int:
  """Whole objects at granularity 1.0 as a proposal store: GCL mixes them in with the AGG
  proposals (the official GCL loader does the same with SBD objects). Returns its size."""
  proposal_store.write_meta(store_dir, {"source": repr(source), "num_records": len(source),
                                        "config": {"kind": "ground-truth whole objects"},
                                        "data": data_config.to_dict()})
  if proposal_store.chunk_files(store_dir):
    return len(proposal_store.read_proposals(store_dir))
  proposals, done = [], []
  for i in range(limit):
    record = source[i]
    mask = record["mask"] == 1
    proposals.append(proposal_store.make_proposal(
        index=i, rank=0, source_index=i, image_id=record["image_id"],
        object_id=record["object_id"], image_path=None, mask=mask,
        object_area=int(mask.sum()), scale_granularity=1.0, semantic_granularity=1.0,
        granularity=1.0))
    done.append(i)
  proposal_store.write_chunk(store_dir, 0, 0, done, proposals)
  return len(proposals)


def write_gcl_init(recipe: Recipe) -> str:
  """GraCo's starting point: the object model with fresh LoRA factors (B = 0) and a zero
  granularity embedding, so GCL starts from exactly the object model's predictions.

  (A fresh N(0, 1) embedding, the official init, adds a large random vector to every token of
  the frozen tiny ViT; the few GCL steps of the quickstart do not recover from it.)
  """
  workdir = io.join(recipe.out, "graco_init")
  if checkpoints.latest_step(workdir) is None:
    config = recipe.stage("gcl")
    config.train.init_from = io.join(recipe.out, "object_model")
    key = jax.random.PRNGKey(recipe.settings.seed)
    flat = optim.flatten(loop.load_initial_variables(config, key))
    flat = {k: (np.zeros_like(v) if "gra_embed" in k.split("/") else v) for k, v in flat.items()}
    checkpoints.save_params(workdir, config.model, optim.unflatten(flat))
  return workdir


def _model(out, name):
  """(model_config, plain Predictor) of a trained model: the quickstart's images are the crop
  size. Predictors are equal for equal architectures, so the models share one compiled loop."""
  model_config, variables = checkpoints.load_for_inference(io.join(out, WORKDIRS[name]))
  return model_config, predictor_lib.for_model(model_config, variables, "plain")


# ---------------------------------------------------------------------------------------------
# Stages. Each takes the recipe and `advance(fraction of the stage done)` for the pipeline bar.


def _train(recipe, stage, workdir, title, advance):
  config = recipe.stage(stage)
  workdir = io.join(recipe.out, workdir)
  if checkpoints.latest_step(workdir) == config.train.num_steps:
    print(f"{title}: complete in {workdir}, skipped")
    return
  print(f"{title}: {config.train.num_steps} steps of batch {config.train.batch_size} -> {workdir}")
  loop.train(config, workdir, on_step=lambda done, total: advance(done / total))


def stage_pretrain(recipe, advance):
  _train(recipe, "pretrain", "object_model", "object-level pre-training", advance)


def stage_agg(recipe, advance):
  print("AGG: proposals from the object-level model on the training objects")
  config = recipe.stage("agg")
  source = registry.build_source(config.data)
  # The objects of the first `agg_images` training images (instances are in image order).
  limit = sum(1 for i in range(len(source)) if source.locate(i)[0] < config.agg_images)
  _, predictor = _model(recipe.out, "SimpleClick")
  summary = agg_generate.generate(config.agg, predictor, source,
                                  io.join(recipe.out, "proposals"), data_config=config.data,
                                  progress=False, limit=limit,
                                  on_batch=lambda done, total: advance(done / total))
  write_object_store(source, config.data, io.join(recipe.out, "objects_store"), limit)
  return summary


def stage_gcl(recipe, advance):
  write_gcl_init(recipe)
  _train(recipe, "gcl", "graco", "GCL on AGG proposals (GraCo w/ AGG)", advance)


def stage_gcl_gt(recipe, advance):
  write_gcl_init(recipe)
  _train(recipe, "gcl_gt", "graco_gt", "GCL on annotated parts (GraCo w/ GT)", advance)


def stage_parts_ft(recipe, advance):
  _train(recipe, "parts_ft", "simpleclick_parts",
         "SimpleClick¶ (object model fine-tuned on GT parts)", advance)


def eval_set(ev, level, split="val"):
  """`level` ('object' or 'part') instances spread over the images of `split` (held-out 'val';
  'train' only to choose the fixed granularity)."""
  min_area = {"min_area": ev.min_part_area} if level == "part" else {}
  source = SyntheticSource(level, split, ev.val_images, (ev.image_size, ev.image_size), ev.seed,
                           **min_area)
  return spread_instances(source, ev.objects if level == "object" else ev.parts)


def _read_json(path):
  return json.loads(io.read_text(path))


def _run_config(ev, graco):
  return ml_collections.ConfigDict({
      **ev.to_dict(), "pred_thr": ev.pred_thr.graco if graco else ev.pred_thr.simpleclick})


def _evaluate_one(recipe, ev, name, level, records, on_instances):
  """NoC run of one model on one level, cached in out/eval/<model>_<level>.json."""
  path = io.join(recipe.out, "eval", f"{TAGS[name]}_{level}.json")
  if io.exists(path):
    return _read_json(path)
  model_config, predictor = _model(recipe.out, name)
  graco = bool(model_config.use_granularity)
  oracle = graco and level == "parts"
  granularity = ("oracle" if oracle else ev.object_granularity) if graco else None
  result, _ = evaluate.evaluate_dataset(
      predictor, records, _run_config(ev, graco), granularity=granularity,
      target_iou=ev.part_target_iou if oracle else None, mesh=None, progress=False,
      on_instances=on_instances)
  entry = _entry(name, level, records, result, ev.max_clicks)
  report.write_json(path, entry)
  return _read_json(path)


def _entry(name, level, records, result, max_clicks):
  thresholds = (0.85, 0.90) if level == "objects" else (0.85,)
  return {"model": name, "level": level,
          "summary": noc.summarize(result["ious"], max_clicks, thresholds),
          "ious": result["ious"], "num_clicks": result["num_clicks"],
          "granularity": result["granularity"],
          "true_granularity": [float(r["granularity"]) for r in records],
          "noc85": noc.noc_per_instance(result["ious"], 0.85, max_clicks)}


def _fixed_granularity(recipe, ev, name, records, on_instances):
  """GraCo on parts at ONE granularity for every instance, the figure a user without the ground
  truth gets (the oracle picks per instance against it). The granularity is chosen without
  the held-out labels: the bin with the best mean IoU@1 on parts of training images."""
  path = io.join(recipe.out, "eval", f"{TAGS[name]}_parts_fixed.json")
  if io.exists(path):
    return _read_json(path)
  _, predictor = _model(recipe.out, name)
  selection = eval_set(ev, "part", split="train")
  selection_iou1 = noc.granularity_curves(
      predictor, [r["image"] for r in selection], [r["mask"] for r in selection], clicks=(1,),
      pred_thr=ev.pred_thr.graco, bucket_multiple=ev.bucket_multiple,
      shrink_pool=ev.shrink_pool)["miou@1"]
  chosen = float(GRANULARITY_BINS[int(np.argmax(selection_iou1))])
  result, _ = evaluate.evaluate_dataset(
      predictor, records, _run_config(ev, True), granularity=chosen,
      target_iou=ev.part_target_iou, mesh=None, progress=False, on_instances=on_instances)
  entry = {**_entry(name, "parts", records, result, ev.max_clicks),
           "selection_iou@1": selection_iou1, "chosen_granularity": chosen}
  report.write_json(path, entry)
  return _read_json(path)


def _granularity_curves(recipe, ev, level, records, on_instances):
  del on_instances  # ten short runs; the pipeline bar moves when they end
  path = io.join(recipe.out, "eval", f"graco_agg_{level}_granularity.json")
  if io.exists(path):
    return _read_json(path)
  _, predictor = _model(recipe.out, "GraCo w/ AGG")
  curves = noc.granularity_curves(predictor, [r["image"] for r in records],
                                  [r["mask"] for r in records], clicks=tuple(ev.curve_clicks),
                                  pred_thr=ev.pred_thr.graco, bucket_multiple=ev.bucket_multiple,
                                  shrink_pool=ev.shrink_pool)
  report.write_json(path, curves)
  return curves


def stage_evaluate(recipe, advance):
  """NoC of every model on objects and parts; GraCo also at a fixed granularity on parts;
  IoU-granularity curves of GraCo w/ AGG. Progress counts instance runs."""
  print("evaluation on held-out synthetic images")
  ev = recipe.stage("eval").eval
  sets = {"objects": eval_set(ev, "object"), "parts": eval_set(ev, "part")}
  graco = [m for m in MODELS if m.startswith("GraCo")]
  runs = len(MODELS) * len(sets) + len(graco) + len(sets)
  finished = [0]

  def run(fn, *args):
    def on_instances(done, total):
      advance((finished[0] + done / total) / runs)
    value = fn(*args, on_instances)
    finished[0] += 1
    advance(finished[0] / runs)
    return value

  table = {name: {level: run(_evaluate_one, recipe, ev, name, level, records)
                  for level, records in sets.items()} for name in MODELS}
  for name in graco:
    table[name]["parts_fixed"] = run(_fixed_granularity, recipe, ev, name, sets["parts"])
  curves = {level: run(_granularity_curves, recipe, ev, level, records)
            for level, records in sets.items()}
  return table, curves


def granularity_strip(recipe):
  """GraCo at granularities 0.1..1.0 from one click on a held-out part."""
  s = recipe.settings
  scenes = SyntheticScenes("val", s.val_images, (s.image_size, s.image_size), s.seed)
  scene, node, (y, x) = quickstart_report.strip_example(scenes)
  _, predictor = _model(recipe.out, "GraCo w/ AGG")
  n = len(GRANULARITY_BINS)
  images = np.repeat(scene.image[None].astype(np.float32) / 255.0, n, axis=0)
  clicks = add_click(empty_clicks(n, 1), np.full(n, y), np.full(n, x), np.ones(n, bool))
  probs, _ = predictor_lib.predict_step(
      predictor.variables, images, clicks, np.zeros(images.shape[:3] + (1,), np.float32),
      np.asarray(GRANULARITY_BINS, np.float32), (), predictor=predictor.static())
  probs = np.asarray(probs)[..., 0]
  quickstart_report.plot_granularity_strip(scene.image, probs, (y, x), node.name,
                                           io.join(recipe.out, "granularity_strip.png"))

  def iou(p, mask):
    return float(((p > 0.5) & mask).sum() / max(((p > 0.5) | mask).sum(), 1))

  return {"image_id": scene.image_id, "part": node.name, "click": [y, x],
          "true_granularity": node.granularity,
          "iou_with_part": [iou(p, scene.masks[node.node_id]) for p in probs],
          "iou_with_object": [iou(p, scene.masks[node.object_id]) for p in probs]}


def stage_report(recipe, table, curves, advance):
  print("report")
  out = recipe.out
  results = {"settings": recipe.settings.to_dict(), "table": table,
             "iou_vs_granularity": curves, "strip": granularity_strip(recipe),
             "claims": quickstart_report.claims(table)}
  report.plot_iou_vs_clicks(io.join(out, "iou_vs_clicks.png"), {
      level: {name: entry[level]["summary"]["miou_per_click"] for name, entry in table.items()}
      for level in ("objects", "parts")})
  report.plot_iou_vs_granularity(io.join(out, "iou_vs_granularity.png"), {
      f"GraCo on {level}": {"": curve} for level, curve in curves.items()})
  quickstart_report.plot_optimal_granularity(table["GraCo w/ AGG"]["parts"],
                                             io.join(out, "optimal_granularity.png"))
  advance(1.0)
  return results


# ---------------------------------------------------------------------------------------------
# Driver


def _check_settings(recipe):
  """A resumed run must use the settings of the run it resumes."""
  path = io.join(recipe.out, "settings.json")
  current = report.json_ready(recipe.settings.to_dict())
  if io.exists(path):
    previous = _read_json(path)
    if previous != current:
      changed = sorted(k for k in set(previous) | set(current)
                       if previous.get(k) != current.get(k))
      raise InputError(f"{recipe.out} holds a quickstart run with other settings ({path}; "
                       f"changed: {changed}); use another --out or delete it")
  else:
    report.write_json(path, current)


# Stage costs in units of one pre-training step as the calibration times it, from the default
# run on the 2-core development CPU (benchmarks/RESULTS.md); they cover data loading,
# compilation and checkpoints too. A training step costs more in the loop than alone (its
# data shares the cores), a GCL step less (gradients of the adapters only).
STEP_COST = {"pretrain": 1.35, "gcl": 1.35, "gcl_gt": 1.3, "parts_ft": 1.6}
AGG_COST_PER_IMAGE = 1.0
EVAL_COST_PER_INSTANCE = 14.0  # held-out objects + parts: 4 models, oracle, fixed, curves


def calibrate(recipe) -> dict:
  """Seconds per pre-training step on this machine: builds the pre-training step exactly as
  `graco-jax train` does (the persistent compilation cache then hands the program to the
  pre-training stage) and times a few steps on one batch."""
  config = recipe.stage("pretrain")
  config.train.init_from = ""
  mesh = parallel.make_mesh()
  source = registry.build_source(config.data)
  dataset = pipeline.make_train_dataset(source, config, batch_size=config.train.batch_size,
                                        seed=config.seed)
  local = next(iter(dataset))
  batch = jax.tree.map(lambda x: jax.make_array_from_process_local_data(
      parallel.data_sharding(mesh), x), local)
  state, tx, trainable, _ = step_lib.create_train_state(
      jax.random.PRNGKey(config.seed), config, 1, config.train.num_steps)
  state = parallel.put(state, parallel.replicated(mesh))
  update = step_lib.jit_update_fn(step_lib.make_update_fn(config, tx, trainable), state, mesh,
                                  batch)
  start = time.perf_counter()
  state, metrics = update(state, batch, jax.random.PRNGKey(0))
  jax.block_until_ready(metrics)
  first = time.perf_counter() - start
  steps = 6
  start = time.perf_counter()
  for i in range(steps):
    state, metrics = update(state, batch, jax.random.PRNGKey(i + 1))
    parallel.to_host(metrics)
  step = (time.perf_counter() - start) / steps
  return {"step_seconds": step, "first_step_seconds": first}


def estimate_seconds(settings, calibration) -> dict:
  """Estimated seconds of every stage on the calibrated machine (see STEP_COST)."""
  s = settings
  work = {"pretrain": s.pretrain_steps * STEP_COST["pretrain"],
          "agg": s.agg_images * AGG_COST_PER_IMAGE,
          "gcl": s.gcl_steps * STEP_COST["gcl"],
          "gcl_gt": s.gcl_steps * STEP_COST["gcl_gt"],
          "parts_ft": s.parts_ft_steps * STEP_COST["parts_ft"],
          "eval": (s.eval_objects + s.eval_parts) * EVAL_COST_PER_INSTANCE,
          "report": 20.0}
  return {name: w * calibration["step_seconds"] for name, w in work.items()}


class PipelineBar:
  """One progress bar over the whole recipe, in estimated seconds: a stage moves it across
  its estimated share as it reports the fraction of its work done."""

  def __init__(self, estimates: dict, enabled: bool):
    self.estimates, self.done = estimates, 0.0
    self.bar = tqdm.tqdm(total=round(sum(estimates.values())), unit="s", disable=not enabled,
                         desc="quickstart", dynamic_ncols=True,
                         bar_format="{desc}{percentage:3.0f}%|{bar}| {elapsed} elapsed, "
                                    "about {remaining} left (estimated)")

  def stage(self, name):
    """Returns `advance(fraction)` for stage `name`; the stage is done when it returns."""
    share, start = self.estimates[name], self.done
    self.bar.set_description(f"quickstart ({name})")

    def advance(fraction):
      self.bar.n = round(start + share * min(max(fraction, 0.0), 1.0))
      self.bar.refresh()

    self.done += share
    return advance

  def close(self):
    self.bar.n = self.bar.total
    self.bar.close()


STAGES = (  # (name, timings.json key, function)
    ("pretrain", "1 pre-train object model", stage_pretrain),
    ("agg", "2 AGG proposals", stage_agg),
    ("gcl", "3a GCL (GraCo w/ AGG)", stage_gcl),
    ("gcl_gt", "3b GCL on GT parts (GraCo w/ GT)", stage_gcl_gt),
    ("parts_ft", "3c fine-tune on parts (SimpleClick¶)", stage_parts_ft),
)


def run_quickstart(recipe: Recipe) -> dict:
  """Runs (or resumes) every stage; returns the results dict written to results.json."""
  io.makedirs(recipe.out)
  _check_settings(recipe)
  timings_path = io.join(recipe.out, "timings.json")
  timings = _read_json(timings_path) if io.exists(timings_path) else {}
  calibration_path = io.join(recipe.out, "calibration.json")
  if io.exists(calibration_path):  # a resumed run keeps the first run's calibration
    calibration = _read_json(calibration_path)
  else:
    calibration = calibrate(recipe)
    report.write_json(calibration_path, calibration)
  estimates = estimate_seconds(recipe.settings, calibration)
  print(f"calibration: {calibration['step_seconds'] * 1e3:.0f} ms per pre-training step; "
        f"a full run takes about {sum(estimates.values()) / 60:.0f} minutes on this machine")
  bar = PipelineBar(estimates, recipe.progress)

  def timed(name, key, fn, *args):
    start = time.perf_counter()
    value = fn(recipe, *args, bar.stage(name))
    timings[key] = timings.get(key, 0.0) + time.perf_counter() - start
    report.write_json(timings_path, timings)
    return value

  try:
    for name, key, fn in STAGES:
      timed(name, key, fn)
    table, curves = timed("eval", "4 evaluation", stage_evaluate)
    results = timed("report", "5 report", stage_report, table, curves)
  finally:
    bar.close()
  timings["total"] = sum(v for k, v in timings.items() if k != "total")
  report.write_json(timings_path, timings)
  results["timings"] = timings
  results["calibration"] = {**calibration, "estimated_seconds": estimates}
  report.write_json(io.join(recipe.out, "results.json"), results)
  io.atomic_write_text(io.join(recipe.out, "report.md"), quickstart_report.markdown(results))
  return results


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--out", default="quickstart_out", help="output folder (resumed if present)")
  parser.add_argument("--config", default=RECIPE,
                      help="the recipe, with settings as its argument, e.g. "
                      "configs/quickstart.py:pretrain_steps=500 (see its docstring)")
  parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args) -> int:
  if args.config_overrides:
    raise InputError("the quickstart takes its settings in the config argument, e.g. "
                     "--config configs/quickstart.py:pretrain_steps=500")
  recipe = Recipe(args.config, args.out, progress=not args.no_progress)
  start = time.perf_counter()
  run_quickstart(recipe)
  print(io.read_text(io.join(args.out, "report.md")))
  print(f"quickstart finished in {time.perf_counter() - start:.0f} s (this invocation); "
        f"outputs in {args.out}/")
  return 0
