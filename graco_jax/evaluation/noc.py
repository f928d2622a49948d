"""The interactive segmentation benchmark protocol, on device: clicks, IoU, NoC, granularity sweep.

Continuous batching on device: a fixed pool of slots clicks its instances one click per step
(`lax.while_loop`), and a slot whose instance has stopped takes the next waiting instance of the
queue on the next step, so the network runs only on instances still clicking and each instance
stops as soon as the official loop would. The host hands the queue over in chunks, the pool
carried from one program to the next; once the queue is empty and half the slots are idle, the
instances still clicking move to a smaller pool (one more program), so the last ones run on few
idle slots. The slots are sharded over the mesh's 'data' axis. Images are padded into size
buckets (by default one, at the largest size: with zoom-in the network sees only target-size
crops, so only the full-resolution steps pay for the padding); padded pixels are ignored pixels,
which leaves the official clicks unchanged (the official clicker zero-pads its error masks
anyway).

Official semantics kept (isegm/inference/evaluation.py, clicker.py, utils.py):
- the loop stops for an instance once IoU >= target_iou (0.90 by default, 0.85 for part
  datasets); IoUs after the stop repeat the last value, `num_clicks` is the official length;
- IoU counts only non-ignored pixels; NoC counts `max_clicks` when the threshold is never reached;
- the granularity oracle runs granularities 0.1..1.0 in order on the same predictor; a later
  granularity stops one click after the fewest clicks found so far; the predictor's transform
  state (zoom-in) carries over between granularities, as in the official code; the pick is the
  fewest clicks, ties by IoU@1 (the first granularity wins exact ties).
"""

import functools

import flax
import jax
import jax.numpy as jnp
import numpy as np

from graco_jax import parallel
from graco_jax.interaction.clicks import ClickSet, add_click, empty_clicks
from graco_jax.interaction.simulate import iou_counts, next_click_eval
from graco_jax.model import GRANULARITY_BINS
from graco_jax.predictor import Predictor, as_predictor


@flax.struct.dataclass
class Slots:
  """The instances a pool holds (a slot each) or a queue waits with: [P or Q, ...]."""
  instance: jax.Array  # int32 instance index, -1 for none
  images: jax.Array  # [., H, W, 3] float32
  gt: jax.Array  # [., H, W] bool
  not_ignore: jax.Array  # [., H, W] bool
  in_image: jax.Array  # [., H, W] bool
  sizes: jax.Array  # [., 2] int32
  granularities: jax.Array  # [., G] float32


@flax.struct.dataclass
class ClickLoopState:
  """The click loop's per-slot carry; every field is batch-leading."""
  clicks: ClickSet
  probs: jax.Array  # [P, H, W, 1] float32, the previous prediction
  pred_mask: jax.Array  # [P, H, W] bool
  active: jax.Array  # [P] bool: the slot holds an instance still clicking
  inter: jax.Array  # [P] int32, IoU counts of the last prediction
  union: jax.Array  # [P] int32
  predictor_state: object  # the predictor's per-instance state (zoom-in box)
  min_num: jax.Array  # [P] int32: fewest clicks any granularity needed so far (oracle)
  granularity_index: jax.Array  # [P] int32: the granularity being run
  click: jax.Array  # [P] int32: the click about to be placed (0-based)


@flax.struct.dataclass
class Trace:
  """Per granularity and click: IoU counts and the click placed, [., G, max_clicks]."""
  inter: jax.Array
  union: jax.Array
  y: jax.Array
  x: jax.Array
  positive: jax.Array
  click_index: jax.Array  # [., G]: index of the last click before the stop


@flax.struct.dataclass
class Pool:
  """A fixed pool of P slots carried between the programs of one size bucket."""
  slots: Slots
  state: ClickLoopState
  trace: Trace  # [P, G, max_clicks]: the trace of each slot's instance so far


def _where(mask, new, old):
  """Per-slot select over pytrees of batch-leading leaves."""
  return jax.tree.map(
      lambda n, o: jnp.where(mask.reshape(mask.shape + (1,) * (n.ndim - 1)), n, o), new, old)


def _empty_trace(batch, num_granularities, max_clicks):
  shape = (batch, num_granularities, max_clicks)
  return Trace(inter=jnp.zeros(shape, jnp.int32), union=jnp.zeros(shape, jnp.int32),
               y=jnp.full(shape, -1, jnp.int32), x=jnp.full(shape, -1, jnp.int32),
               positive=jnp.zeros(shape, bool),
               click_index=jnp.zeros((batch, num_granularities), jnp.int32))


def _fresh_granularity(state: ClickLoopState, max_clicks):
  """A granularity's loop starts without clicks or prediction (box and min_num carry over)."""
  batch, height, width = state.pred_mask.shape
  return state.replace(
      clicks=empty_clicks(batch, max_clicks), probs=jnp.zeros_like(state.probs),
      pred_mask=jnp.zeros_like(state.pred_mask), inter=jnp.zeros_like(state.inter),
      union=jnp.zeros_like(state.union), click=jnp.zeros_like(state.click))


def _pool_program(variables, pool: Pool, queue: Slots, num_queued, drain, shrink_at, *,
                  predictor: Predictor, max_clicks, pred_thr, target_iou, use_granularity):
  """Clicks the pool's instances one click per step, refilling a slot from the queue as soon as
  its instance has stopped (continuous batching), until the queue's first `num_queued` entries
  are all in the pool and a slot is free (or, with `drain`, until at most `shrink_at` slots are
  still clicking: the host then moves them to a smaller pool; 0 runs until every slot stopped).

  Returns (pool, finished Trace [P + Q, ...] with their instance indices [P + Q] (-1: none),
  number of steps); every step is one predictor call on the P slots.
  """
  target = jnp.inf if target_iou is None else target_iou
  batch = pool.state.active.shape[0]
  num_granularities = queue.granularities.shape[1]
  outbox_size = batch + queue.instance.shape[0]
  rows = jnp.arange(batch)

  def refill(pool: Pool, taken):
    free = ~pool.state.active
    source = taken + jnp.cumsum(free) - 1
    load = free & (source < num_queued)
    loaded = jax.tree.map(lambda q: q[jnp.clip(source, 0, q.shape[0] - 1)], queue)
    slots = _where(load, loaded, pool.slots)
    fresh = _fresh_granularity(pool.state, max_clicks).replace(
        active=jnp.ones_like(pool.state.active),
        predictor_state=predictor.init(slots.images, slots.sizes),
        min_num=jnp.full((batch,), max_clicks + 1, jnp.int32),  # official `min_num = 100`
        granularity_index=jnp.zeros((batch,), jnp.int32))
    pool = Pool(slots=slots, state=_where(load, fresh, pool.state),
                trace=_where(load, _empty_trace(batch, num_granularities, max_clicks), pool.trace))
    return pool, taken + jnp.sum(load, dtype=jnp.int32)

  def one_click(pool: Pool):
    slots, state, trace = pool.slots, pool.state, pool.trace
    active, g, k = state.active, state.granularity_index, state.click
    gra = slots.granularities[rows, g] if use_granularity else None
    y, x, positive = next_click_eval(state.pred_mask, slots.gt, slots.not_ignore, state.clicks)
    clicks = add_click(state.clicks, y, x, positive, where=active)
    probs, pstate = predictor.apply(variables, slots.images, clicks, state.probs, gra,
                                    state.predictor_state)
    probs = jnp.where(slots.in_image[..., None], probs.astype(jnp.float32), 0.0)
    pred_mask = probs[..., 0] > pred_thr
    inter, union = iou_counts(pred_mask, slots.gt, slots.not_ignore)
    state = _where(active, state.replace(clicks=clicks, probs=probs, pred_mask=pred_mask,
                                         predictor_state=pstate, inter=inter, union=union), state)
    at = (rows, g, jnp.minimum(k, max_clicks - 1))
    put = lambda field, value: field.at[at].set(jnp.where(active, value, field[at]))
    trace = trace.replace(inter=put(trace.inter, inter), union=put(trace.union, union),
                          y=put(trace.y, y), x=put(trace.x, x),
                          positive=put(trace.positive, positive),
                          click_index=trace.click_index.at[rows, g].set(
                              jnp.where(active, k, trace.click_index[rows, g])))
    iou = state.inter.astype(jnp.float32) / state.union.astype(jnp.float32)
    reached = active & (iou >= target)
    stopped = reached | (active & ((k + 1 > state.min_num) | (k + 1 >= max_clicks)))
    state = state.replace(min_num=jnp.where(reached, jnp.minimum(state.min_num, k + 1),
                                            state.min_num),
                          click=jnp.where(active, k + 1, k))
    # A stopped slot runs its next granularity (oracle) or frees itself for the queue.
    next_g = stopped & (g + 1 < num_granularities)
    state = _where(next_g, _fresh_granularity(state, max_clicks).replace(
        granularity_index=g + 1), state)
    finished = stopped & ~next_g
    return Pool(slots=slots, state=state.replace(active=state.active & ~finished),
                trace=trace), finished

  def step(carry):
    pool, taken, outbox, ids, num_done, steps = carry
    pool, taken = refill(pool, taken)
    pool, finished = one_click(pool)
    at = jnp.where(finished, num_done + jnp.cumsum(finished) - 1, outbox_size)
    outbox = jax.tree.map(lambda o, t: o.at[at].set(t, mode="drop"), outbox, pool.trace)
    ids = ids.at[at].set(pool.slots.instance, mode="drop")
    num_done += jnp.sum(finished, dtype=jnp.int32)
    return pool, taken, outbox, ids, num_done, steps + 1

  def more(carry):
    pool, taken = carry[:2]
    active = pool.state.active
    clicking = jnp.sum(active, dtype=jnp.int32)
    return (taken < num_queued) | jnp.where(drain, clicking > shrink_at, jnp.all(active))

  carry = (pool, jnp.int32(0), _empty_trace(outbox_size, num_granularities, max_clicks),
           jnp.full((outbox_size,), -1, jnp.int32), jnp.int32(0), jnp.int32(0))
  pool, _, outbox, ids, _, steps = jax.lax.while_loop(more, step, carry)
  return pool, outbox, ids, steps


# The predictor is a static argument hashed by value: equal predictors share one compilation.
# Sharding follows the inputs (the pool split over 'data', the queue and variables replicated).
_program = jax.jit(_pool_program, static_argnames=(
    "predictor", "max_clicks", "pred_thr", "target_iou", "use_granularity"))


def _half_pool(slots, shards):
  """The next smaller pool of a drain (half the slots, still a multiple of the shards), or 0."""
  half = slots // 2
  return half if half >= shards and half % shards == 0 else 0


@functools.partial(jax.jit, static_argnames="sharding")
def _take_slots(pool: Pool, keep, sharding=None):
  """The slots `keep` as a new pool (split over the mesh like the old one with `sharding`)."""
  pool = jax.tree.map(lambda x: x[keep], pool)
  return pool if sharding is None else jax.lax.with_sharding_constraint(pool, sharding)


def _select_oracle(trace):
  """Official `evaluate_sample_oracle` pick (numpy): fewest clicks, ties by IoU@1."""
  click_index = trace["click_index"]  # [N, G]
  iou1 = _ratio(trace["inter"][:, :, 0], trace["union"][:, :, 0])
  fewest = click_index == click_index.min(axis=1, keepdims=True)
  return np.argmax(np.where(fewest, iou1, -np.inf), axis=1)


def _ratio(inter, union):
  with np.errstate(invalid="ignore", divide="ignore"):
    return inter.astype(np.float64) / union.astype(np.float64)


def _buckets(shapes, multiple):
  """Size buckets {bucket shape: instance indices}: sizes rounded up to `multiple`, or with
  multiple None / 0 one bucket at the largest size (the network sees only target-size crops with
  zoom-in, so one pool batches every instance; only the full-resolution steps pay the padding)."""
  if not multiple:
    return {tuple(np.max(shapes, axis=0)): list(range(len(shapes)))}
  buckets = {}
  for i, shape in enumerate(shapes):
    buckets.setdefault(tuple(parallel.round_up(s, multiple) for s in shape), []).append(i)
  return buckets


def run_click_protocol(predict_fn, images, gt_masks, *, max_clicks=20, pred_thr=0.49,
                       granularity=None, mesh=None, target_iou=0.90, batch_size=None,
                       bucket_multiple=None, queue_size=None, shrink_pool=True, progress=None,
                       stats=None):
  """Runs the NoC click protocol on every instance.

  Each size bucket runs a pool of `batch_size` slots: an instance that stops frees its slot for
  the next waiting instance on the next click (continuous batching), so the network runs only
  on instances still clicking; once at most half the slots are still clicking and none are
  waiting, those move to a smaller pool (`shrink_pool`).

  Args:
    predict_fn: `predict_fn(images, clicks, prev_probs, granularity) -> probs` (pure JAX), or a
      `Predictor` with state (zoom-in). A stateless predict_fn sees the bucket-padded image
      (zeros outside the image); use bucket_multiple=1 when it must see the exact size.
    images: sequence of N images [H_i, W_i, 3] (uint8 or float in [0, 1]).
    gt_masks: sequence of N masks [H_i, W_i] with 1 object, 0 background, -1 ignored.
    max_clicks: clicks per instance (20).
    pred_thr: probability threshold of the prediction (0.49 SimpleClick, 0.5 GraCo).
    granularity: None (no granularity input), a float, an [N] array, or 'oracle' for GraCo's
      per-instance best granularity over 0.1..1.0.
    mesh: a `parallel.make_mesh()` mesh; the slots are split over its 'data' axis.
    target_iou: an instance stops once IoU >= target_iou (official 0.90; 0.85 for parts);
      None never stops (the official --iou-analysis mode).
    batch_size: slots of a pool (default 8 per device; fewer when a bucket has fewer instances).
    bucket_multiple: image sizes are rounded up to this multiple to form the size buckets;
      None: one bucket at the largest size.
    queue_size: instances handed to the device per program (default 4 * slots).
    shrink_pool: once a bucket's queue is empty and at most half its slots are still clicking,
      move those instances to the smallest halving of the pool that holds them, so the last
      instances do not run the network on idle slots. Once per bucket: each pool size compiles
      its own program. The clicks are the same either way.
    progress: optional callable(num_instances_done) called after every program.
    stats: optional dict, filled with 'programs' (calls), 'steps' (predictor calls) and
      'network_rows' (instances through the network, idle slots included).
  Returns:
    dict of numpy arrays: 'ious' [N, max_clicks] float64 (after each click, the last value
    repeated after the stop), 'y', 'x' [N, max_clicks] int32 clicks (-1 after the stop),
    'positive' [N, max_clicks] bool, 'num_clicks' [N] (official trajectory length),
    'num_forwards' [N] (predictor calls the instance needed, all granularities together),
    'granularity' [N] (the one used; the oracle's pick), and for the oracle 'oracle_ious'
    [N, 10, max_clicks] and 'oracle_num_clicks' [N, 10].
  """
  predictor = as_predictor(predict_fn)
  num = len(images)
  if len(gt_masks) != num:
    raise ValueError(f"{num} images but {len(gt_masks)} masks")
  if num == 0:
    raise ValueError("no instances to evaluate")
  oracle = isinstance(granularity, str)
  if oracle and granularity != "oracle":
    raise ValueError(f"granularity must be None, a number, an array or 'oracle', got {granularity!r}")
  use_granularity = granularity is not None
  if oracle:
    grid = np.tile(np.asarray(GRANULARITY_BINS, np.float32), (num, 1))
  elif use_granularity:
    grid = np.broadcast_to(np.asarray(granularity, np.float32), (num,))[:, None]
  else:
    grid = np.zeros((num, 1), np.float32)
  num_granularities = grid.shape[1]

  shards = parallel.data_size(mesh)
  batch_size = parallel.round_up(batch_size or 8 * shards, shards)

  variables = predictor.variables
  if mesh is not None:
    variables = parallel.put(variables, parallel.replicated(mesh))
  static = dict(predictor=predictor.static(), max_clicks=max_clicks, pred_thr=pred_thr,
                target_iou=target_iou, use_granularity=use_granularity)

  for i, mask in enumerate(gt_masks):
    if np.shape(images[i])[:2] != np.shape(mask):
      raise ValueError(f"instance {i}: image {np.shape(images[i])} and mask {np.shape(mask)} differ")
  shapes = np.array([np.shape(mask) for mask in gt_masks])

  keys = ("inter", "union", "y", "x", "positive", "click_index")
  out = {k: [None] * num for k in keys}
  done = 0
  counts = dict(programs=0, steps=0, network_rows=0)
  for (height, width), members in sorted(_buckets(shapes, bucket_multiple).items()):
    slots = min(batch_size, parallel.round_up(len(members), shards))
    size = queue_size or min(4 * slots, parallel.round_up(len(members), slots))
    pool = _empty_pool(predictor, slots, height, width, num_granularities, max_clicks)
    pool = parallel.shard_batch(pool, mesh)
    for start in range(0, len(members), size):
      index = members[start:start + size]
      queue = _pack(images, gt_masks, grid, index, size, height, width)
      if mesh is not None:
        queue = parallel.put(queue, parallel.replicated(mesh))
      drain = start + size >= len(members)
      num_queued, shrink = len(index), drain and shrink_pool
      while True:
        shrink_at = _half_pool(slots, shards) if shrink else 0
        pool, outbox, ids, steps = _program(variables, pool, queue, np.int32(num_queued),
                                            np.bool_(drain), np.int32(shrink_at), **static)
        outbox, ids, steps = parallel.to_host((outbox, ids, steps))
        steps = int(steps)
        for j in np.flatnonzero(ids >= 0):
          for k in keys:
            out[k][ids[j]] = getattr(outbox, k)[j]
        counts["programs"] += 1
        counts["steps"] += steps
        counts["network_rows"] += steps * slots
        done += int(np.sum(ids >= 0))
        if progress is not None:
          progress(done)
        if not shrink_at:
          break
        active = parallel.to_host(pool.state.active)
        if not active.any():
          break
        # Once per bucket (each pool size compiles its own program): the smallest halving of
        # the pool that holds the instances still clicking; it runs them to the end.
        num_queued, shrink = 0, False  # the whole queue is in the pool now
        while _half_pool(slots, shards) >= active.sum():
          slots = _half_pool(slots, shards)
        keep = np.argsort(~active, kind="stable")[:slots].astype(np.int32)  # clicking first
        if mesh is None:
          pool = _take_slots(pool, keep)
        else:
          pool = _take_slots(pool, parallel.put(keep, parallel.replicated(mesh)),
                             sharding=parallel.data_sharding(mesh))
  if stats is not None:
    stats.update(counts)

  trace = {k: np.stack(v) for k, v in out.items()}
  # IoUs after a granularity's stop repeat its last value.
  last = np.minimum(np.arange(max_clicks), trace["click_index"][..., None])
  for k in ("inter", "union"):
    trace[k] = np.take_along_axis(trace[k], last, axis=2)
  pick = _select_oracle(trace) if oracle else np.zeros(num, int)
  rows = np.arange(num)
  inter, union = trace["inter"][rows, pick], trace["union"][rows, pick]
  result = dict(
      ious=_ratio(inter, union),
      y=trace["y"][rows, pick], x=trace["x"][rows, pick], positive=trace["positive"][rows, pick],
      num_clicks=trace["click_index"][rows, pick] + 1,
      num_forwards=(trace["click_index"] + 1).sum(axis=1),
      granularity=grid[rows, pick] if use_granularity else np.full(num, np.nan, np.float32),
  )
  if oracle:
    result["oracle_ious"] = _ratio(trace["inter"], trace["union"])
    result["oracle_num_clicks"] = trace["click_index"] + 1
  return result


def to_official_ious(result) -> list:
  """The official `all_ious` list: per instance, the IoUs up to where its loop stopped."""
  return [ious[:n] for ious, n in zip(result["ious"], result["num_clicks"])]


def _empty_pool(predictor, slots, height, width, num_granularities, max_clicks):
  """A pool of free slots (host-built, placed by the caller)."""
  images = jnp.zeros((slots, height, width, 3), jnp.float32)
  sizes = jnp.ones((slots, 2), jnp.int32)
  mask = jnp.zeros((slots, height, width), bool)
  zeros = jnp.zeros((slots,), jnp.int32)
  return Pool(
      slots=Slots(instance=zeros - 1, images=images, gt=mask, not_ignore=mask, in_image=mask,
                  sizes=sizes, granularities=jnp.ones((slots, num_granularities), jnp.float32)),
      state=ClickLoopState(
          clicks=empty_clicks(slots, max_clicks), probs=jnp.zeros((slots, height, width, 1)),
          pred_mask=mask, active=jnp.zeros((slots,), bool), inter=zeros, union=zeros,
          predictor_state=predictor.init(images, sizes), min_num=zeros, granularity_index=zeros,
          click=zeros),
      trace=_empty_trace(slots, num_granularities, max_clicks))


def _pack(images, gt_masks, grid, index, size, height, width):
  """The instances `index` as a queue of `size` entries at [height, width] (numpy)."""
  imgs = np.zeros((size, height, width, 3), np.float32)
  gt = np.zeros((size, height, width), bool)
  not_ignore = np.zeros((size, height, width), bool)
  in_image = np.zeros((size, height, width), bool)
  sizes = np.ones((size, 2), np.int32)
  gra = np.ones((size, grid.shape[1]), np.float32)
  instance = np.full((size,), -1, np.int32)
  for j, i in enumerate(index):
    image = np.asarray(images[i])
    mask = np.asarray(gt_masks[i])
    h, w = mask.shape
    imgs[j, :h, :w] = image / 255.0 if image.dtype == np.uint8 else image
    gt[j, :h, :w] = mask == 1
    not_ignore[j, :h, :w] = mask != -1
    in_image[j, :h, :w] = True
    sizes[j] = (h, w)
    gra[j] = grid[i]
    instance[j] = i
  return Slots(instance=instance, images=imgs, gt=gt, not_ignore=not_ignore, in_image=in_image,
               sizes=sizes, granularities=gra)


# Metrics on the [N, max_clicks] IoU arrays, with the official semantics (utils.compute_noc_metric).

def noc_per_instance(ious, iou_thr, max_clicks=None):
  """[N] clicks to reach iou_thr (1-based), max_clicks when never reached."""
  ious = np.asarray(ious)
  max_clicks = ious.shape[1] if max_clicks is None else max_clicks
  reached = ious >= iou_thr
  return np.where(reached.any(axis=1), reached.argmax(axis=1) + 1, max_clicks)


def noc(ious, iou_thr, max_clicks=None):
  """Mean number of clicks to reach iou_thr (NoC@85 with 0.85, NoC@90 with 0.90)."""
  return float(noc_per_instance(ious, iou_thr, max_clicks).mean())


def over_max(ious, iou_thr, max_clicks=None):
  """Instances whose NoC equals the click limit (official '>=20@90')."""
  ious = np.asarray(ious)
  max_clicks = ious.shape[1] if max_clicks is None else max_clicks
  return int((noc_per_instance(ious, iou_thr, max_clicks) == max_clicks).sum())


def iou_at(ious, k):
  """Mean IoU after k clicks (IoU@1 with k = 1)."""
  return float(np.mean(np.asarray(ious)[:, k - 1]))


def mean_iou_per_click(ious):
  """[max_clicks] mean IoU after each click (run with target_iou=None for the official curve)."""
  return np.asarray(ious).mean(axis=0)


def summarize(ious, max_clicks=None, thresholds=(0.85, 0.90)):
  """The paper's Table 1 numbers as a dict."""
  ious = np.asarray(ious)
  max_clicks = ious.shape[1] if max_clicks is None else max_clicks
  summary = {"num_instances": int(ious.shape[0]), "iou@1": iou_at(ious, 1)}
  for thr in thresholds:
    name = f"{round(thr * 100)}"
    summary[f"noc@{name}"] = noc(ious, thr, max_clicks)
    summary[f">={max_clicks}@{name}"] = over_max(ious, thr, max_clicks)
  summary["miou_per_click"] = mean_iou_per_click(ious).tolist()
  return summary


def granularity_curves(predict_fn, images, gt_masks, granularities=GRANULARITY_BINS, *,
                       clicks=(1, 3, 5), **kwargs):
  """IoU-granularity curves (paper Fig. 4): mean IoU after k clicks for each fixed granularity.

  Returns {'granularity': [G], 'miou@k': [G] for k in clicks}. kwargs go to run_click_protocol
  (target_iou is None here so every instance gets all clicks).
  """
  max_clicks = max(clicks)
  predictor = as_predictor(predict_fn)
  curves = {"granularity": [float(g) for g in granularities]}
  per_g = [run_click_protocol(predictor, images, gt_masks, granularity=g, max_clicks=max_clicks,
                              target_iou=None, **kwargs)["ious"] for g in granularities]
  for k in clicks:
    curves[f"miou@{k}"] = [iou_at(ious, k) for ious in per_g]
  return curves
