"""`graco-jax generate`: sharded, resumable AGG proposal generation into a proposal store.

Work is cut into global batches of `batch_size` consecutive instances (see `instance_list`),
each padded to a multiple of the device count; every host takes its contiguous slice of each
batch, the batch is split over all devices of the mesh, and each host writes one atomic store
chunk per batch. Per batch:

  1. device (one jitted program): the loop simulation (engine.loop_simulation) at
     `input_size` x `input_size`, images resized (bilinear) and objects resized (nearest).
  2. host: the last prediction resized back (bilinear, align_corners) to the source image and
     thresholded; hole filling, component choice and complements (postprocess.make_proposals).
  3. device (one jitted program): the semantic probability map of every proposal that needs
     one (engine.semantic_probs), click inside the eroded proposal.
  4. host: scale / semantic / combined granularity; the chunk is written.
Batch b + 1's loop simulation is dispatched before batch b's host steps, so they overlap.

Randomness is keyed by (seed, instance index) and (seed, batch number), so results do not depend
on device or host count, and a resumed run (instances already in the store are skipped; a batch
is recomputed only for its missing instances) writes the same proposals as an uninterrupted one.
"""

import functools
import json
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from PIL import Image
from scipy import ndimage
from tqdm import tqdm

from graco_jax import checkpoints, config_utils, io, parallel, predictor as predictor_lib
from graco_jax.agg import engine, granularity as gran_lib, postprocess
from graco_jax.data import proposal_store as store, registry
from graco_jax.model import GRANULARITY_BINS
from graco_jax.errors import InputError


def default_config() -> ml_collections.ConfigDict:
  """AGG settings (official values unless noted)."""
  return ml_collections.ConfigDict({
      # Typed placeholders (None until set) so `--config.agg.input_size=224` parses as an int.
      "input_size": ml_collections.config_dict.placeholder(int),  # None: the model's crop size
      "batch_size": 16,  # instances per global batch (padded to a multiple of the devices)
      "min_iters": 3,  # N in [min_iters, max_iters] per batch: the paper's 3..6
      "max_iters": 6,  # (the official script's randint(3, 6) loop adds 2..4 clicks: use 2, 4)
      "min_click_distance": 10.0,  # input pixels between clicks (paper; absent in official code)
      "threshold": 0.5,
      "min_click_area": 400,  # no new click while the prediction is smaller (source pixels)
      "min_component_area": 1500,  # eligible components (source pixels)
      "min_complement_scale": 0.1,  # complements kept when their rounded scale exceeds this
      "fill_holes": True,  # paper text; the official PartPredictor.solve fills no holes
      "flat_semantic": "scale",  # object-flat probability map: 'scale' or 'official' (inf/NaN)
      "lam": 0.5,  # Eq. 6
      "combination": "paper",  # or 'official' (the scale bin, as the released model trained)
      "semantic_prev_mask": "empty",  # official estimator; 'object' is Eq. 3's mask prompt
      # A value in (0, 1] when the engine model is a GraCo model.
      "predict_granularity": ml_collections.config_dict.placeholder(float),
      "seed": 0,
  })


def _resize_image(image, size):
  """uint8 [H, W, 3] -> float32 [size, size, 3] in [0, 1] (bilinear)."""
  if image.shape[:2] != (size, size):
    image = np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))
  return image.astype(np.float32) / 255.0


def _resize_mask(mask, size):
  """bool [H, W] -> bool [size, size] (nearest)."""
  if mask.shape != (size, size):
    mask = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(
        (size, size), Image.NEAREST)) > 127
  return mask


def _resize_probs(probs, shape):
  """float [h, w] -> [H, W], bilinear with align_corners (the model's own output resizing)."""
  if probs.shape == tuple(shape):
    return probs
  (h, w), (height, width) = probs.shape, shape
  ys = np.linspace(0.0, h - 1.0, height)
  xs = np.linspace(0.0, w - 1.0, width)
  grid = np.meshgrid(ys, xs, indexing="ij")
  return ndimage.map_coordinates(probs, grid, order=1, mode="nearest")


def _host_rows(x):
  """This host's rows of a batch-sharded array, in order, as numpy."""
  if jax.process_count() == 1:
    return np.asarray(x)
  shards = {s.index[0].start or 0: s.data for s in x.addressable_shards}
  return np.concatenate([np.asarray(shards[k]) for k in sorted(shards)])


def _to_global(mesh, local):
  sharding = parallel.data_sharding(mesh)
  return jax.tree.map(lambda a: jax.make_array_from_process_local_data(sharding, a), local)


def _instance_keys(seed, indices):
  base = jax.random.fold_in(jax.random.PRNGKey(seed), 1)
  return np.asarray(jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.asarray(indices)))


def _num_iters(config, batch_number):
  key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(config.seed), 2), batch_number)
  return int(jax.random.randint(key, (), config.min_iters, config.max_iters + 1))


def _click_region_at(region, size):
  """The eroded proposal at the engine resolution; never empty for a non-empty proposal."""
  small = _resize_mask(region, size)
  if not small.any():  # thinner than one engine pixel: its first pixel, scaled
    y, x = np.argwhere(region)[0]
    small[int(y * size / region.shape[0]), int(x * size / region.shape[1])] = True
  return small


@functools.partial(jax.jit, static_argnames=("predict", "max_iters", "threshold"))
def _loop_step(predict, variables, images, objects, keys, num_iters, min_area, distance,
               granularity, *, max_iters, threshold):
  predict_fn = functools.partial(predict.probs, variables)
  return engine.loop_simulation(predict_fn, images, objects, keys, num_iters, min_area,
                                max_iters=max_iters, min_click_distance=distance,
                                threshold=threshold, granularity=granularity)[0]


@functools.partial(jax.jit, static_argnames=("predict",))
def _semantic_step(predict, variables, images, regions, prev, keys, granularity):
  return engine.semantic_probs(functools.partial(predict.probs, variables), images, regions, prev, keys,
                               granularity)


def instance_list(source, store_dir: str, progress: bool = False) -> list:
  """[(source_index, object_id | None)], one entry per instance to process.

  Records without an 'instances' label map are instances themselves ('mask' 1 is the object):
  entry (i, None). Per-image records (e.g. SBD training images) give one entry per object id of
  their 'instances' map; that scan loads every record once, so it is cached in
  store_dir/instances.json (written by host 0) and reused when the run resumes.
  """
  if "instances" not in source[0]:
    return [(i, None) for i in range(len(source))]
  path = io.join(store_dir, "instances.json")
  if jax.process_index() == 0 and not io.exists(path):
    entries = []
    for i in tqdm(range(len(source)), desc="indexing instances", disable=not progress):
      ids = np.unique(np.asarray(source[i]["instances"]))
      entries += [[i, int(k)] for k in ids if k > 0]
    io.atomic_write_bytes(path, json.dumps({"num_records": len(source), "instances": entries}
                                        ).encode("utf-8"))
  _sync_hosts("agg-instances")
  data = json.loads(io.read_text(path))
  if data["num_records"] != len(source):
    raise InputError(f"{path} indexes {data['num_records']} records, the source has "
                     f"{len(source)}: not the source this store was generated from")
  return [tuple(e) for e in data["instances"]]


def _load_instance(source, index, entry, cache):
  """The instance row of the batch: a dict with the full-resolution object, or None if empty."""
  source_index, object_id = entry
  if source_index not in cache:
    cache[source_index] = source[source_index]
  record = cache[source_index]
  if object_id is None:
    obj, object_id = np.asarray(record["mask"]) == 1, int(record["object_id"])
  else:
    obj = np.asarray(record["instances"]) == object_id
  if not obj.any():
    return None
  return {"index": index, "source_index": source_index, "image_id": str(record["image_id"]),
          "object_id": object_id, "image_path": record.get("image_path"),
          "image": np.asarray(record["image"], np.uint8), "object": obj}


def _semantic_maps(config, predict, variables, mesh, images, objects, keys, granularity,
                   candidates, slots):
  """Probability maps [len(slots), S, S] for the (row, rank) `slots`, one batched forward.

  The slots are padded to the fixed 2 x rows (two proposals per instance at most): every host
  runs the same program, and each device sees the same shape whatever the number of hosts, so
  a store generated by 2 hosts is bit-identical to one from 1 host with the same devices.
  """
  size, local = config.input_size, len(images)
  total = 2 * local
  rows = np.asarray([r for r, _ in slots], np.int64)
  regions = np.zeros((total, size, size), bool)
  for j, (r, rank) in enumerate(slots):
    regions[j] = _click_region_at(gran_lib.click_region(candidates[r, rank][0]), size)
  pad = lambda a: parallel.pad_to(a, total)
  prev = objects[rows].astype(np.float32) if config.semantic_prev_mask == "object" else \
      np.zeros((len(slots), size, size), np.float32)
  sem_keys = np.asarray(jax.vmap(jax.random.fold_in)(
      jnp.asarray(keys[rows]), jnp.asarray([1000 + rank for _, rank in slots], jnp.uint32)))
  inputs = (pad(images[rows]), regions, pad(prev), pad(sem_keys),
            None if granularity is None else pad(granularity[rows]))
  return _host_rows(_semantic_step(predict, variables, *_to_global(mesh, inputs)))[:len(slots)]


def _launch_batch(config, predict, variables, mesh, rows, batch_number) -> dict:
  """Starts the loop simulation of one host's slice of a batch; returns without waiting.

  rows: this host's instance rows (`_load_instance` dicts; None for padding, empty objects and
  instances already in the store). The returned dict holds the inputs and the (future) probs.
  """
  size, local = config.input_size, len(rows)
  images = np.zeros((local, size, size, 3), np.float32)
  objects = np.zeros((local, size, size), bool)
  min_area = np.zeros((local,), np.float32)
  for r, row in enumerate(rows):
    if row is not None:
      images[r] = _resize_image(row["image"], size)
      objects[r] = _resize_mask(row["object"], size)
      min_area[r] = config.min_click_area * size * size / row["object"].size
  keys = _instance_keys(config.seed, [0 if row is None else row["index"] for row in rows])
  g = config.predict_granularity
  granularity = None if g is None else np.full((local,), g, np.float32)
  num_iters = jnp.int32(_num_iters(config, batch_number))
  global_in = _to_global(mesh, (images, objects, keys, min_area, granularity))
  probs = _loop_step(
      predict, variables, global_in[0], global_in[1], global_in[2], num_iters, global_in[3],
      jnp.float32(config.min_click_distance), global_in[4], max_iters=config.max_iters,
      threshold=config.threshold)
  return {"rows": rows, "images": images, "objects": objects, "keys": keys,
          "granularity": granularity, "probs": probs}


def _finish_batch(config, predict, variables, mesh, launched) -> list:
  """Post-processing, semantic maps and granularities of a launched batch: proposal dicts."""
  rows, images, objects, keys, granularity = (
      launched[k] for k in ("rows", "images", "objects", "keys", "granularity"))
  probs = _host_rows(launched["probs"])

  # Host post-processing into at most two proposals (loop proposal, complement) per row.
  candidates = {}
  for r, row in enumerate(rows):
    if row is None:
      continue
    pred = _resize_probs(probs[r], row["object"].shape) > config.threshold
    rng = np.random.default_rng([config.seed, row["index"]])
    for rank, mask, scale, is_object in postprocess.make_proposals(
        pred, row["object"], rng, min_component_area=config.min_component_area,
        min_complement_scale=config.min_complement_scale, fill=config.fill_holes):
      candidates[r, rank] = (mask, scale, is_object)

  # One semantic forward per proposal that needs one (the object fallback has semantic 1).
  slots = [key for key, (_, _, is_object) in candidates.items() if not is_object]
  sem_probs = {}
  if slots or jax.process_count() > 1:  # the program spans every process: all of them join
    sem_probs = dict(zip(slots, _semantic_maps(config, predict, variables, mesh, images, objects,
                                               keys, granularity, candidates, slots)))

  proposals = []
  for r, row in enumerate(rows):
    if row is None:
      continue
    for rank in (0, 1):
      if (r, rank) not in candidates:
        continue
      mask, scale, is_object = candidates[r, rank]
      obj = row["object"]
      if is_object:
        semantic = 1.0
      else:
        semantic = gran_lib.semantic_granularity(
            _resize_probs(sem_probs[r, rank], obj.shape), mask, obj, scale,
            config.flat_semantic)
      proposals.append(store.make_proposal(
          index=row["index"], rank=rank, source_index=row["source_index"],
          image_id=row["image_id"], object_id=row["object_id"], image_path=row["image_path"],
          mask=mask, object_area=obj.sum(), scale_granularity=scale,
          semantic_granularity=semantic,
          granularity=gran_lib.combine(scale, semantic, config.lam, config.combination)))
  return proposals


def generate(config, predictor, source, out_dir, *, data_config=None, mesh=None, progress=True,
             limit=None, max_batches=None, on_batch=None) -> dict:
  """Generates (or completes) the proposal store `out_dir` for every record of `source`.

  Args:
    config: AGG ConfigDict (`default_config()` fields).
    predictor: a plain `Predictor` (e.g. `predictor.plain(model.apply, variables)`), or a
      stateless probabilities function `predict_fn(images, clicks, prev_probs, granularity)`.
    source: records in the shared dataset format: one instance per record ('mask' 1 marks
      the object) or one image per record with an 'instances' label map (see instance_list).
    out_dir: the store directory; existing chunks are kept and their instances skipped.
    data_config: the `config.data` that built `source` (graco_jax.data.registry.build_source);
      recorded in meta.json so the store's reader can rebuild the images without it.
    mesh: a 'data' mesh (default: all devices).
    progress: show a progress bar on host 0.
    limit: only the first `limit` instances.
    max_batches: stop after computing this many batches (an interrupted run, for tests).
    on_batch: optional `on_batch(done, total)`, called after every batch of this run.

  Returns:
    The summary dict (also written to out_dir/summary.json by host 0).
  """
  if config.combination not in gran_lib.COMBINATIONS:
    raise InputError(f"combination must be one of {gran_lib.COMBINATIONS}, "
                     f"got {config.combination!r}")
  if not 1 <= config.min_iters <= config.max_iters:
    raise InputError(f"need 1 <= min_iters <= max_iters, got {config.min_iters}, "
                     f"{config.max_iters}")
  if not config.input_size:
    raise InputError("config.input_size is not set (the engine's square input size)")
  if config.flat_semantic not in gran_lib.FLAT_SEMANTICS:
    raise InputError(f"flat_semantic must be one of {gran_lib.FLAT_SEMANTICS}, "
                     f"got {config.flat_semantic!r}")
  if config.semantic_prev_mask not in ("empty", "object"):
    raise InputError(f"semantic_prev_mask must be 'empty' or 'object', "
                     f"got {config.semantic_prev_mask!r}")
  mesh = parallel.make_mesh() if mesh is None else mesh
  hosts, host = jax.process_count(), jax.process_index()
  # The batch partition depends on batch_size only; each batch is padded to the device count.
  batch = config.batch_size
  per_host = parallel.round_up(batch, parallel.data_size(mesh)) // hosts
  if per_host * hosts < batch or per_host * hosts % parallel.data_size(mesh):
    raise InputError(f"{parallel.data_size(mesh)} devices do not split evenly over {hosts} hosts")
  if host == 0:
    store.write_meta(out_dir, {
        "source": _describe(source), "num_records": len(source), "config": config.to_dict(),
        "data": None if data_config is None else dict(data_config.to_dict())})
  _sync_hosts("agg-meta")
  instances = instance_list(source, out_dir, progress and host == 0)
  num_instances = len(instances) if limit is None else min(limit, len(instances))
  done = store.read_done(out_dir)
  predictor = predictor_lib.as_predictor(predictor)
  predict = predictor.static()
  variables = parallel.put(predictor.variables, parallel.replicated(mesh))
  batches = [b for b in range(-(-num_instances // batch))
             if not all(i in done for i in range(b * batch, min((b + 1) * batch, num_instances)))]
  if max_batches is not None:
    batches = batches[:max_batches]
  start, written = time.time(), 0
  bar = tqdm(total=len(batches), desc="AGG", unit="batch", disable=not progress or host != 0)
  # Batch b + 1 is launched before batch b is finished: the device runs its loop simulation
  # while the host post-processes batch b (asynchronous dispatch; same order on every host).
  pending = None
  for b in batches + [None]:
    launched = None
    if b is not None:
      positions = [host * per_host + j for j in range(per_host)]
      indices = [b * batch + p for p in positions if p < batch and b * batch + p < num_instances]
      cache, todo = {}, [i for i in indices if i not in done]
      # Keys are per instance and N per batch: skipping done instances changes nothing else.
      rows = [_load_instance(source, i, instances[i], cache) for i in todo]
      rows += [None] * (per_host - len(rows))
      launched = (b, todo, _launch_batch(config, predict, variables, mesh, rows, b))
    if pending is not None:
      pending_b, pending_todo, pending_batch = pending
      proposals = _finish_batch(config, predict, variables, mesh, pending_batch)
      if pending_todo:  # instances with an empty object yield nothing but are done too
        store.write_chunk(out_dir, host, pending_b, pending_todo, proposals)
      written += len(proposals)
      bar.update(1)
      bar.set_postfix(proposals=written)
      if on_batch is not None:
        on_batch(bar.n, len(batches))
    pending = launched
  bar.close()
  seconds = time.time() - start
  _sync_hosts("agg-done")
  summary = {"seconds": seconds, "proposals_this_run": written,
             "proposals_per_s": written / seconds if seconds > 0 else 0.0}
  if host == 0:
    summary.update(write_summary(out_dir, source))
  return summary


def _describe(source) -> str:
  """The source's own repr, or its class name (a default repr holds a memory address)."""
  return repr(source) if type(source).__repr__ is not object.__repr__ else type(source).__name__


def _sync_hosts(name):
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    multihost_utils.sync_global_devices(name)


def write_summary(out_dir, source, gallery_size=16) -> dict:
  """summary.json, granularity_histogram.png (cf. paper Fig. 6) and gallery.png of a store."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  proposals = store.read_proposals(out_dir)
  edges = np.linspace(0.0, 1.0, 11)
  values = {k: np.asarray([p[k] for p in proposals], np.float64)
            for k in ("granularity", "scale_granularity", "semantic_granularity")}
  # Bin 0.1 holds (0, 0.15) on the combined scale: count the combined values by their bin.
  bins = GRANULARITY_BINS
  combined = [int(np.sum(np.isclose(values["granularity"], v))) for v in bins]
  summary = {"num_records": len(source), "instances_done": len(store.read_done(out_dir)),
             "num_proposals": len(proposals),
             "granularity_histogram": dict(zip([f"{v:.1f}" for v in bins], combined))}

  fig, axes = plt.subplots(1, 3, figsize=(12, 3))
  axes[0].bar(bins, combined, width=0.08)
  axes[0].set_title("combined granularity (0.1 bins)")
  for ax, key in zip(axes[1:], ("scale_granularity", "semantic_granularity")):
    ax.hist(np.clip(values[key], 0, 1), bins=edges)
    ax.set_title(key.replace("_", " ") + " (raw)")
  for ax in axes:
    ax.set_xlabel("granularity")
  axes[0].set_ylabel("proposals")
  io.write_figure(io.join(out_dir, "granularity_histogram.png"), fig)

  shown = proposals[:: max(1, len(proposals) // gallery_size)][:gallery_size]
  cols = 4
  rows = max(1, -(-len(shown) // cols))
  fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
  for ax in axes.ravel():
    ax.axis("off")
  for ax, p in zip(axes.ravel(), shown):
    image = np.asarray(source[p["source_index"]]["image"], np.float32) / 255.0
    mask = store.decode_mask(p["rle"])
    overlay = image.copy()
    overlay[mask] = 0.5 * overlay[mask] + 0.5 * np.array([1.0, 0.1, 0.1])
    ax.imshow(overlay)
    ax.set_title(f"{p['image_id']}/{p['object_id']} g={p['granularity']:.1f}\n"
                 f"scale {p['scale_granularity']:.2f} sem {p['semantic_granularity']:.2f}",
                 fontsize=8)
  io.write_figure(io.join(out_dir, "gallery.png"), fig)
  io.atomic_write_bytes(io.join(out_dir, "summary.json"),
                     (json.dumps(summary, indent=2) + "\n").encode("utf-8"))
  return summary


# ----- CLI -----

def add_arguments(parser):
  parser.add_argument("--config", required=True, help="configs/agg_<dataset>.py[:arg]")
  parser.add_argument("--checkpoint", required=True,
                      help="checkpoint workdir of the object-level model (load_for_inference)")
  parser.add_argument("--out", required=True, help="proposal store directory (resumed if present)")
  parser.add_argument("--limit", type=int, default=None, help="only the first N instances")
  parser.add_argument("--no-progress", action="store_true")
  parallel.add_distributed_arguments(parser)


def run(args) -> int:
  parallel.initialize_from_args(args)
  config = config_utils.load_config(args.config, args.config_overrides)
  if "path" in config.data:  # the store's reader may run from another directory
    config.data.path = io.abspath(config.data.path)
  source = registry.build_source(config.data)
  model_config, variables = checkpoints.load_for_inference(args.checkpoint)
  if config.agg.input_size is None:
    config.agg.input_size = int(model_config.crop_size[0])
  predictor = predictor_lib.for_model(model_config, variables, "plain")
  summary = generate(config.agg, predictor, source, args.out,
                     data_config=config.data, progress=not args.no_progress, limit=args.limit)
  print(json.dumps(summary, indent=2))
  return 0
