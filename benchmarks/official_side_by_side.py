"""Side by side with the official PyTorch GraCo code on the same CPU: GrabCut NoC evaluation,
the pure network forward and the GCL training step.

Steps, each its own process (so each timing includes its own start-up and compilation); the
official tree is Zhao-Yian/GraCo @ 8001f0f, unmodified, in --official (default
/tmp/graco_official):

  python benchmarks/official_side_by_side.py setup --official /tmp/graco_official
  python benchmarks/official_side_by_side.py export --checkpoint /tmp/tiny.pth
  python benchmarks/official_side_by_side.py ours --checkpoint /tmp/tiny.pth --grabcut G
  python benchmarks/official_side_by_side.py official --checkpoint /tmp/tiny.pth --grabcut G
  python benchmarks/official_side_by_side.py forward --impl official|ours \
      --checkpoint /tmp/tiny.pth --batch-sizes 1,4,8 --rows 2|48
  python benchmarks/official_side_by_side.py train_step --impl official|ours \
      --checkpoint /tmp/tiny.pth --batch-sizes 4,8 --steps 5

`setup` extracts the official tree from its git mirror (--mirror; files the mirror lacks, such
as the released weights, are skipped) when --official has no isegm/, writes our stand-ins
(official_standins.py: the mmcv ConvModule / BaseModule / registries, three timm helpers,
torchvision's ToTensor, import-only albumentations and pkg_resources) into
<official>/_standins, pip-installs the PyPI packages the official imports need (opencv, easydict,
loralib, regex, ftfy; never into setup.py; --no-install only reports them) and checks that the
official modules import. `official`, `forward` and `train_step` put <official> and
<official>/_standins first on sys.path.

`ours` also takes a graco-jax checkpoint directory (e.g. the quickstart's trained GraCo,
`--checkpoint quickstart_out/graco`), which the official code cannot load (its window schedule
breaks at depth 4): forwards per instance against slot-steps with early stopping.

`ours`, `forward --impl ours` and `train_step --impl ours` run with huge pages for XLA's
buffers, as the graco-jax CLI does (graco_jax/hugepages.py); the official steps run as shipped,
or with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 set by hand for the same environment. Every JSON
line records `glibc_tunables`.

`export` writes a random-init official-format GraCo checkpoint with our `export_official`
(dim 64, depth 12, 4 heads, 448 crop, LoRA rank 8, granularity embedding); `ours` and
`official` then run the same work: zoom-in + flip, threshold 0.5, granularity 1.0, 20 clicks,
stop at IoU 0.90. `official` calls the official `evaluate_dataset` with the arguments its
evaluate.py passes (NoBRS predictor, cvpr zoom-in at 448). `ours` enables the CLIs' persistent
compilation cache: its first run compiles, the next ones load.

`forward` times the network forward alone in eval mode at 448x448, batch B, `rows` rows of the
official points tensor ([B, rows, 3], rows = 2 * num_max_points: 2 is the evaluation layout with
one positive click, 48 the training layout with 24 max points; ours gets a ClickSet of capacity
rows / 2), granularity 1.0, previous mask zeros. Official: `load_is_model`, torch.no_grad(),
`net(image_with_prev_mask, points, gra [B, 1], None)['instances']` as its predictor calls it;
ours: `create_model(config).apply` under jax.jit. Warm-up calls (compilation) are reported
apart; the median of --repeats (>= 5) timed calls per batch size is the result.

`train_step` times one GCL step (samples/s) on synthetic 448x448 data (one rectangle or
ellipse object per sample, one positive click at its centre, granularity 1.0, fixed seed, the
same for both): official = the real `ISTrainer` (built by its own __init__ with a placeholder
dataset, so its freezing is the real one: loralib's mark_only_lora_as_trainable plus the
'gra_embed' white list; Adam lr 5e-5; normalized focal loss; AdaptiveIoU as in
plainvit_base448_graco.py), each step its `training()` body without logging:
`batch_forward` (0..3 extra clicks placed by `get_next_points` between eval-mode no-grad
forwards), zero_grad, backward, Adam step. Ours = `step.jit_update_fn` on the GCL config
(float32, max_num_next_clicks 3, max 24 points, lr 5e-5) with the batch placed as
training/loop.py places it. Two warm-up steps (the first one's time reported), then --steps.
Each step prints one JSON object.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

MIRROR = "/work/.mirror/Zhao-Yian+GraCo/repo"
# PyPI packages the official imports need on the paths we run (module -> package).
OFFICIAL_REQUIREMENTS = {"cv2": "opencv-python-headless", "easydict": "easydict",
                         "loralib": "loralib", "regex": "regex", "ftfy": "ftfy"}
# The official modules the steps below import (setup checks them).
OFFICIAL_MODULES = ("isegm.inference.utils", "isegm.inference.evaluation",
                    "isegm.inference.predictors", "isegm.engine.trainer", "isegm.model.losses",
                    "isegm.model.metrics", "isegm.model.is_plainvit_graco_model_lora")
CROP = 448
MAX_POINTS = 24  # official num_max_points in training (points rows = 2 * 24)
MAX_NEXT_CLICKS = 3
LEARNING_RATE = 5e-5


def _machine():
  load = os.getloadavg()
  return dict(cpus=os.cpu_count(), machine=platform.machine(), python=platform.python_version(),
              load_average=[round(x, 2) for x in load])


def _env():
  """The environment variables that change CPU timings (OpenMP's spin-waiting, for one, makes
  torch with 2 threads on 2 busy cores many times slower: OMP_WAIT_POLICY=PASSIVE avoids it)."""
  return dict(xla_flags=os.environ.get("XLA_FLAGS", ""),
              aten_cpu_capability=os.environ.get("ATEN_CPU_CAPABILITY", ""),
              omp_wait_policy=os.environ.get("OMP_WAIT_POLICY", ""),
              omp_num_threads=os.environ.get("OMP_NUM_THREADS", ""),
              glibc_tunables=os.environ.get("GLIBC_TUNABLES", ""))


def _batch_sizes(text):
  return [int(b) for b in text.split(",") if b.strip()]


def _use_official(official):
  """Official tree first on sys.path, then our stand-ins (ahead of any installed package)."""
  standins = os.path.join(official, "_standins")
  if not os.path.isdir(os.path.join(official, "isegm")) or not os.path.isdir(standins):
    sys.exit(f"{official}: no official tree with _standins; run the setup step first")
  sys.path[:0] = [official, standins]


def _extract(mirror, commit, dest):
  """Writes the files of `commit` from the bare `mirror` under dest; returns (commit, the
  paths the mirror lacks)."""
  git = ["git", "--git-dir", mirror]
  commit = subprocess.run(git + ["rev-parse", commit], check=True, capture_output=True,
                          text=True).stdout.strip()
  listing = subprocess.run(git + ["ls-tree", "-r", "-z", commit], check=True,
                           capture_output=True).stdout
  entries = []
  for line in listing.split(b"\0"):
    if line:
      meta, path = line.split(b"\t", 1)
      mode, kind, sha = meta.split()
      if kind == b"blob":
        entries.append((mode, sha, path.decode()))
  batch = subprocess.run(git + ["cat-file", "--batch"], check=True, capture_output=True,
                         input=b"".join(sha + b"\n" for _, sha, _ in entries)).stdout
  missing, offset = [], 0
  for mode, sha, path in entries:
    end = batch.index(b"\n", offset)
    header = batch[offset:end].split()
    offset = end + 1
    if header[-1] == b"missing":
      missing.append(path)
      continue
    size = int(header[2])
    data, offset = batch[offset:offset + size], offset + size + 1
    target = os.path.join(dest, path)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if mode == b"120000":
      os.symlink(data.decode(), target)
    else:
      with open(target, "wb") as f:
        f.write(data)
  return commit, missing


def _missing_modules(modules):
  import importlib.util
  return [m for m in modules if importlib.util.find_spec(m) is None]


def setup(args):
  import official_standins
  official = os.path.abspath(args.official)
  commit, missing = None, []
  if not os.path.isdir(os.path.join(official, "isegm")):
    partial = official + ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    commit, missing = _extract(args.mirror, args.commit, partial)
    os.makedirs(os.path.dirname(official) or ".", exist_ok=True)
    if os.path.isdir(official) and not os.listdir(official):
      os.rmdir(official)
    os.rename(partial, official)
  packages = official_standins.write(os.path.join(official, "_standins"))
  need = [OFFICIAL_REQUIREMENTS[m] for m in _missing_modules(OFFICIAL_REQUIREMENTS)]
  if need and not args.no_install:
    subprocess.run([sys.executable, "-m", "pip", "install", *need], check=True,
                   stdout=sys.stderr)
    need = [OFFICIAL_REQUIREMENTS[m] for m in _missing_modules(OFFICIAL_REQUIREMENTS)]
  check = None
  if not need:  # import the official modules in a fresh process, as the steps do
    code = (f"import sys; sys.path[:0] = {[official, os.path.join(official, '_standins')]!r}; "
            + "; ".join(f"import {m}" for m in OFFICIAL_MODULES))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    check = "ok" if result.returncode == 0 else result.stderr.strip().splitlines()[-1]
  print(json.dumps(dict(step="setup", official=official, extracted_commit=commit,
                        skipped_missing_from_mirror=missing, standins=packages,
                        pip_missing=need, official_import_check=check)))
  if need or check != "ok":
    sys.exit(1)


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
  if os.path.isdir(args.checkpoint):  # a graco-jax checkpoint, e.g. the quickstart's model
    from graco_jax.checkpoints import load_for_inference
    config, variables = load_for_inference(args.checkpoint)
  else:
    config, variables = import_official(args.checkpoint)
  source = GrabCutSource(args.grabcut)
  records = [source[i] for i in range(min(args.limit or len(source), len(source)))]
  size = args.target_size or config.crop_size[0]
  predictor = predictor_lib.for_model(config, variables, target_size=(size, size))
  stats = {}
  run_start = time.perf_counter()
  result = noc.run_click_protocol(
      predictor, [r["image"] for r in records], [r["mask"] for r in records], max_clicks=20,
      pred_thr=0.5, granularity=1.0, target_iou=0.90, batch_size=args.batch_size,
      bucket_multiple=args.bucket_multiple, shrink_pool=not args.no_shrink, stats=stats)
  end = time.perf_counter()
  print(json.dumps(dict(
      step="ours", instances=len(records), seconds=end - start, run_seconds=end - run_start,
      instances_per_s=len(records) / (end - start), batch_size=args.batch_size,
      shrink_pool=not args.no_shrink,
      instance_clicks=int(result["num_forwards"].sum()), noc90=noc.noc(result["ious"], 0.9),
      noc85=noc.noc(result["ious"], 0.85),
      jax=jax.__version__, **_env(), **stats, **_machine())))


def official(args):
  start = time.perf_counter()
  _use_official(args.official)
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
  size = args.target_size or CROP
  zoom_in = {"skip_clicks": -1, "target_size": (size, size)}  # evaluate.py, eval_mode 'cvpr'
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


# ---------------------------------------------------------------------------------------------
# forward: the network alone.


def forward_inputs(batch_size, rows, seed=0):
  """image [B, H, W, 3] float32 in [0, 1] and the official points [B, rows, 3]: one positive
  click (row 0, click index 0) at the centre, the other rows -1."""
  rng = np.random.default_rng(seed)
  image = rng.random((batch_size, CROP, CROP, 3), dtype=np.float32)
  points = np.full((batch_size, rows, 3), -1, np.float32)
  points[:, 0] = (CROP // 2, CROP // 2, 0)
  return image, points


def _time_calls(call, warmup, repeats):
  """(seconds of each warm-up call, median ms of `repeats` timed calls)."""
  warm = []
  for _ in range(warmup):
    t = time.perf_counter()
    call()
    warm.append(time.perf_counter() - t)
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    call()
    times.append(time.perf_counter() - t)
  return [round(w, 3) for w in warm], round(1e3 * statistics.median(times), 2)


def _official_forward(args, sizes):
  _use_official(args.official)
  import torch
  torch.set_num_threads(args.threads)
  from isegm.inference import utils
  model = utils.load_is_model(args.checkpoint, "cpu", False)  # eval(), LoRA merged
  warmup, ms = {}, {}
  for b in sizes:
    image, points = forward_inputs(b, args.rows)
    image_nd = torch.cat([torch.from_numpy(image).permute(0, 3, 1, 2),
                          torch.zeros(b, 1, CROP, CROP)], dim=1)  # + previous mask
    points_nd = torch.from_numpy(points)
    gra = torch.full((b, 1), 1.0)  # the predictor's torch.Tensor([gra]).unsqueeze(0), per row

    def call():
      with torch.no_grad():
        return model(image_nd, points_nd, gra, None)["instances"]
    warmup[b], ms[b] = _time_calls(call, args.warmup, args.repeats)
  return dict(torch=torch.__version__, threads=torch.get_num_threads()), warmup, ms


def _our_forward(args, sizes):
  import jax
  import jax.numpy as jnp
  from graco_jax.checkpoints import import_official
  from graco_jax.interaction.clicks import from_official_points
  from graco_jax.model import create_model
  config, variables = import_official(args.checkpoint)
  apply = jax.jit(create_model(config).apply)
  warmup, ms = {}, {}
  for b in sizes:
    image, points = forward_inputs(b, args.rows)
    clicks = from_official_points(points, capacity=args.rows // 2)
    image = jnp.asarray(image)
    prev = jnp.zeros((b, CROP, CROP, 1), jnp.float32)
    granularity = jnp.ones((b,), jnp.float32)

    def call():
      return apply(variables, image, clicks, prev, granularity).block_until_ready()
    warmup[b], ms[b] = _time_calls(call, args.warmup, args.repeats)
  return dict(jax=jax.__version__, devices=len(jax.devices())), warmup, ms


def forward(args):
  if args.repeats < 5:
    sys.exit("--repeats must be >= 5")
  if args.rows < 2 or args.rows % 2:
    sys.exit("--rows must be a positive even number (2 * num_max_points)")
  sizes = _batch_sizes(args.batch_sizes)
  run = _official_forward if args.impl == "official" else _our_forward
  versions, warmup, ms = run(args, sizes)
  print(json.dumps(dict(
      step="forward", impl=args.impl, crop=CROP, rows=args.rows, granularity=1.0,
      repeats=args.repeats, warmup_seconds=warmup, ms=ms,
      ms_per_sample={b: round(ms[b] / b, 2) for b in sizes}, **versions, **_env(),
      **_machine())))


# ---------------------------------------------------------------------------------------------
# train_step: one GCL training step.


def synthetic_train_batch(batch_size, seed=0):
  """The same data for both: image uint8 [B, H, W, 3], mask [B, H, W] (a random rectangle or
  ellipse per sample) and one positive click (y, x) [B, 2] at the object's centre."""
  rng = np.random.default_rng(seed)
  image = rng.integers(0, 256, (batch_size, CROP, CROP, 3), dtype=np.uint8)
  mask = np.zeros((batch_size, CROP, CROP), np.int8)
  click = np.zeros((batch_size, 2), np.int32)
  yy, xx = np.mgrid[:CROP, :CROP]
  for b in range(batch_size):
    h, w = rng.integers(CROP // 8, CROP // 2, size=2)
    y, x = rng.integers(h // 2, CROP - h // 2), rng.integers(w // 2, CROP - w // 2)
    if rng.random() < 0.5:
      mask[b, y - h // 2:y + h // 2, x - w // 2:x + w // 2] = 1
    else:
      mask[b] = ((yy - y) / (h / 2)) ** 2 + ((xx - x) / (w / 2)) ** 2 <= 1
    click[b] = (y, x)
  return image, mask, click


class _PlaceholderDataset:
  """What ISTrainer.__init__ reads of its datasets (a length for its unused DataLoaders)."""

  def __init__(self, size):
    self.size = size

  def __len__(self):
    return self.size

  def get_samples_number(self):
    return self.size


def official_trainer(model, batch_size):
  """The real ISTrainer, configured as models/plainvit_base448_graco.py + train.py
  --enable_lora do (its DataLoaders are built over a placeholder and never iterated)."""
  import contextlib
  import logging
  from easydict import EasyDict as edict
  from isegm.engine.trainer import ISTrainer
  from isegm.model.losses import NormalizedFocalLossSigmoid
  from isegm.model.metrics import AdaptiveIoU
  from isegm.utils.log import logger
  cfg = edict(enable_lora=True, lora_switch_epoch=55, distributed=False, batch_size=batch_size,
              val_batch_size=batch_size, workers=0, weights=None, resume_exp=None,
              multi_gpu=False, local_rank=0, device="cpu", start_epoch=0, freeze_list=None,
              layerwise_decay=False)
  model_cfg = edict(crop_size=(CROP, CROP), num_max_points=MAX_POINTS)
  loss_cfg = edict(instance_loss=NormalizedFocalLossSigmoid(alpha=0.5, gamma=2),
                   instance_loss_weight=1.0)
  level = logger.level
  logger.setLevel(logging.WARNING)  # it logs the whole model
  try:
    with contextlib.redirect_stdout(sys.stderr):  # it prints the trainable parameter names
      trainer = ISTrainer(
          model, cfg, model_cfg, loss_cfg, _PlaceholderDataset(batch_size),
          _PlaceholderDataset(batch_size), optimizer="adam",
          optimizer_params={"lr": LEARNING_RATE, "betas": (0.9, 0.999), "eps": 1e-8},
          layerwise_decay=False, lr_scheduler=None, checkpoint_interval=[(0, 20), (50, 1)],
          image_dump_interval=300, metrics=[AdaptiveIoU()], max_interactive_points=MAX_POINTS,
          max_num_next_clicks=MAX_NEXT_CLICKS)
  finally:
    logger.setLevel(level)
  return trainer


def _official_batch(image, mask, click):
  """A collated batch as the official GCL datasets give it (points rows -1 but the first)."""
  import torch
  b = image.shape[0]
  points = np.full((b, 2 * MAX_POINTS, 3), -1, np.float32)
  points[:, 0, :2], points[:, 0, 2] = click, 0
  return {"images": torch.from_numpy(image).permute(0, 3, 1, 2).float().div(255),
          "points": torch.from_numpy(points),
          "instances": torch.from_numpy(mask[:, None].astype(np.float32)),
          "gra": torch.ones(b, 1, dtype=torch.float64)}  # np.array([sample.gra]) per sample


def _official_train(args, sizes):
  _use_official(args.official)
  import random
  import torch
  torch.set_num_threads(args.threads)
  from isegm.inference import utils
  out = {}
  for b in sizes:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    model = utils.load_is_model(args.checkpoint, "cpu", False)
    # load_is_model freezes every tensor (inference); train.py hands ISTrainer a freshly built
    # model, all trainable, and ISTrainer's own freezing (mark_only_lora_as_trainable only
    # clears requires_grad) must start from that.
    for param in model.parameters():
      param.requires_grad = True
    trainer = official_trainer(model, b)
    trainable = [p for p in trainer.net.parameters() if p.requires_grad]
    data = synthetic_train_batch(b)
    trainer.net.train()  # ISTrainer.training()
    clicks = []

    def step():
      # ISTrainer.training()'s loop body without its logging.
      loss, _, batch, _ = trainer.batch_forward(_official_batch(*data), epoch=0)
      trainer.optim.zero_grad()
      loss.backward()
      trainer.optim.step()
      clicks.append(int(batch["points"][:, :, 2].max()))  # extra clicks this step
      return loss.item()
    out[b] = _run_steps(step, args.steps, b, clicks)
    out[b]["trainable_tensors"] = len(trainable)
    out[b]["trainable_parameters"] = sum(p.numel() for p in trainable)
  return dict(torch=torch.__version__, threads=torch.get_num_threads()), out


def _our_train(args, sizes):
  import jax
  from graco_jax import parallel
  from graco_jax.checkpoints import import_official
  from graco_jax.training import optim, step as step_lib
  from graco_jax.training.defaults import graco_config
  from graco_jax.data.pipeline import click_capacity
  model_config, variables = import_official(args.checkpoint)
  mesh = parallel.make_mesh()
  batch_sharding = parallel.data_sharding(mesh)
  out = {}
  for b in sizes:
    config = graco_config()
    config.model = model_config
    config.train.compute_dtype = "float32"
    config.train.batch_size = b
    config.train.max_num_next_clicks = MAX_NEXT_CLICKS
    config.train.max_num_points = MAX_POINTS
    config.optimizer.learning_rate = LEARNING_RATE
    state, tx, trainable, _ = step_lib.create_train_state(
        jax.random.PRNGKey(0), config, 1000, 100000, variables)
    state = parallel.put(state, jax.tree.map(lambda _: parallel.replicated(mesh), state))
    image, mask, click = synthetic_train_batch(b)
    capacity = click_capacity(config.train)
    coords = np.zeros((b, capacity, 2), np.int32)
    coords[:, 0] = click
    valid = np.zeros((b, capacity), bool)
    valid[:, 0] = True
    local = {"image": image, "mask": mask, "coords": coords, "is_positive": valid.copy(),
             "valid": valid, "granularity": np.ones(b, np.float32)}
    update_fn = None
    clicks = []

    def step():
      nonlocal state, update_fn
      # As training/loop.py: place the host batch, jit once, fold the step into the key.
      batch = jax.tree.map(
          lambda x: jax.make_array_from_process_local_data(batch_sharding, x), local)
      if update_fn is None:
        update_fn = step_lib.jit_update_fn(step_lib.make_update_fn(config, tx, trainable),
                                           state, mesh, batch)
      state, metrics = update_fn(state, batch, jax.random.fold_in(state.rng, len(clicks)))
      metrics = parallel.to_host(metrics)
      clicks.append(int(metrics["num_next_clicks"]))
      return float(metrics["loss"])
    out[b] = _run_steps(step, args.steps, b, clicks)
    flat = optim.flatten(variables)
    out[b]["trainable_tensors"] = len(trainable)
    out[b]["trainable_parameters"] = int(sum(np.size(flat[p]) for p in trainable))
  return dict(jax=jax.__version__, devices=len(jax.devices())), out


def _run_steps(step, steps, batch_size, clicks):
  """Two warm-up steps (the first compiles / allocates), then `steps` timed ones."""
  t = time.perf_counter()
  step()
  first = time.perf_counter() - t
  t = time.perf_counter()
  step()
  second = time.perf_counter() - t
  t = time.perf_counter()
  losses = [step() for _ in range(steps)]
  elapsed = time.perf_counter() - t
  timed = clicks[2:]
  return dict(samples_per_s=round(steps * batch_size / elapsed, 3),
              ms_per_step=round(1e3 * elapsed / steps, 1), first_step_s=round(first, 3),
              second_step_s=round(second, 3), mean_extra_clicks=round(float(np.mean(timed)), 3),
              extra_clicks=timed, last_loss=round(losses[-1], 5))


def train_step(args):
  if args.steps < 1:
    sys.exit("--steps must be >= 1")
  sizes = _batch_sizes(args.batch_sizes)
  run = _official_train if args.impl == "official" else _our_train
  versions, results = run(args, sizes)
  print(json.dumps(dict(
      step="train_step", impl=args.impl, crop=CROP, max_num_points=MAX_POINTS,
      max_num_next_clicks=MAX_NEXT_CLICKS, steps=args.steps,
      samples_per_s={b: r["samples_per_s"] for b, r in results.items()}, per_batch=results,
      **versions, **_env(), **_machine())))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("step", choices=("setup", "export", "ours", "official", "forward",
                                       "train_step"))
  parser.add_argument("--checkpoint", default="/tmp/tiny.pth")
  parser.add_argument("--grabcut", default="../shared/data/grabcut")
  parser.add_argument("--official", default="/tmp/graco_official")
  parser.add_argument("--mirror", default=MIRROR, help="setup: bare git mirror of GraCo")
  parser.add_argument("--commit", default="HEAD", help="setup: commit to extract")
  parser.add_argument("--no-install", action="store_true", help="setup: only report pip needs")
  parser.add_argument("--limit", type=int, default=0, help="first N instances (0: all 50)")
  parser.add_argument("--batch-size", type=int, default=8)
  parser.add_argument("--target-size", type=int, default=0,
                      help="ours / official: zoom-in target (0: the checkpoint's crop for ours, "
                      "448 for the official; give it for a model of another crop)")
  parser.add_argument("--bucket-multiple", type=int, default=0)
  parser.add_argument("--no-shrink", action="store_true",
                      help="ours: keep the full pool while the last instances finish")
  parser.add_argument("--threads", type=int, default=2, help="torch threads")
  parser.add_argument("--impl", choices=("official", "ours"), default="ours")
  parser.add_argument("--batch-sizes", default="1,4,8", help="forward / train_step")
  parser.add_argument("--rows", type=int, default=2, help="forward: official points rows")
  parser.add_argument("--warmup", type=int, default=2, help="forward: warm-up calls")
  parser.add_argument("--repeats", type=int, default=5, help="forward: timed calls (>= 5)")
  parser.add_argument("--steps", type=int, default=5, help="train_step: timed steps")
  args = parser.parse_args()
  if args.step == "ours" or (args.step in ("forward", "train_step") and args.impl == "ours"):
    from graco_jax import hugepages
    hugepages.reexec_with_huge_pages()  # as the graco-jax CLI runs; the official as shipped
  {"setup": setup, "export": export, "ours": ours, "official": official, "forward": forward,
   "train_step": train_step}[args.step](args)


if __name__ == "__main__":
  main()
