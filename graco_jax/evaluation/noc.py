"""The interactive segmentation benchmark protocol, on device: clicks, IoU, NoC, granularity sweep.

One jitted program runs the whole click loop for a batch of instances (`lax.fori_loop`; an
instance that reached the target keeps its state under a mask instead of breaking, and the model
is skipped once the whole batch has stopped), sharded over the mesh's 'data' axis. Instances of different sizes are padded into a few size buckets; padded
pixels are ignored pixels, which leaves the official clicks unchanged (the official clicker
zero-pads its error masks anyway).

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
class ClickLoopState:
  """The carry of one granularity's click loop; every field is batch-leading."""
  clicks: ClickSet
  probs: jax.Array  # [B, H, W, 1] float32, the previous prediction
  pred_mask: jax.Array  # [B, H, W] bool
  active: jax.Array  # [B] bool: still clicking
  inter: jax.Array  # [B] int32, IoU counts of the last prediction
  union: jax.Array  # [B] int32
  predictor_state: object  # the predictor's per-instance state (zoom-in box)
  min_num: jax.Array  # [B] int32: fewest clicks any granularity needed so far (oracle)


@flax.struct.dataclass
class Trace:
  """Per granularity and click: IoU counts and the click placed, [B, G, max_clicks]."""
  inter: jax.Array
  union: jax.Array
  y: jax.Array
  x: jax.Array
  positive: jax.Array
  click_index: jax.Array  # [B, G]: index of the last click before the stop


def _protocol_program(variables, images, gt, not_ignore, in_image, sizes, granularities, *,
                      predictor: Predictor, max_clicks, pred_thr, target_iou, use_granularity):
  """The click protocol of one batch for G granularities one after the other (G = 1 outside
  the oracle), max_clicks clicks each; returns a `Trace`."""
  target = jnp.inf if target_iou is None else target_iou
  batch, height, width = gt.shape
  num_granularities = granularities.shape[1]

  def keep(active, new, old):
    return jax.tree.map(
        lambda n, o: jnp.where(active.reshape((batch,) + (1,) * (n.ndim - 1)), n, o), new, old)

  def one_click(g, k, state: ClickLoopState, trace: Trace):
    gra = granularities[:, g] if use_granularity else None
    active = state.active
    y, x, positive = next_click_eval(state.pred_mask, gt, not_ignore, state.clicks)
    clicks = add_click(state.clicks, y, x, positive, where=active)
    probs, pstate = predictor.apply(variables, images, clicks, state.probs, gra,
                                    state.predictor_state)
    probs = jnp.where(in_image[..., None], probs.astype(jnp.float32), 0.0)
    pred_mask = probs[..., 0] > pred_thr
    inter, union = iou_counts(pred_mask, gt, not_ignore)
    state = keep(active, state.replace(clicks=clicks, probs=probs, pred_mask=pred_mask,
                                       predictor_state=pstate, inter=inter, union=union), state)
    at = (slice(None), g, k)
    trace = trace.replace(
        y=trace.y.at[at].set(jnp.where(active, y, -1)),
        x=trace.x.at[at].set(jnp.where(active, x, -1)),
        positive=trace.positive.at[at].set(active & positive),
        click_index=trace.click_index.at[:, g].set(jnp.where(active, k, trace.click_index[:, g])))
    iou = state.inter.astype(jnp.float32) / state.union.astype(jnp.float32)
    reached = active & (iou >= target)
    stopped = reached | (active & (k + 1 > state.min_num))
    return state.replace(active=active & ~stopped,
                         min_num=jnp.where(reached, jnp.minimum(state.min_num, k + 1),
                                           state.min_num)), trace

  def click_step(g, k, carry):
    state, trace = carry
    # Once every instance of the batch has stopped the model is skipped; IoUs repeat.
    state, trace = jax.lax.cond(jnp.any(state.active), functools.partial(one_click, g, k),
                                lambda s, t: (s, t), state, trace)
    at = (slice(None), g, k)
    return state, trace.replace(inter=trace.inter.at[at].set(state.inter),
                                union=trace.union.at[at].set(state.union))

  def one_granularity(g, carry):
    pstate, min_num, trace = carry
    state = ClickLoopState(
        clicks=empty_clicks(batch, max_clicks),
        probs=jnp.zeros((batch, height, width, 1), jnp.float32),
        pred_mask=jnp.zeros((batch, height, width), bool), active=jnp.ones((batch,), bool),
        inter=jnp.zeros((batch,), jnp.int32), union=jnp.zeros((batch,), jnp.int32),
        predictor_state=pstate, min_num=min_num)
    state, trace = jax.lax.fori_loop(0, max_clicks, functools.partial(click_step, g),
                                     (state, trace))
    # The predictor's state (zoom-in box) carries over between granularities, as officially.
    return state.predictor_state, state.min_num, trace

  shape = (batch, num_granularities, max_clicks)
  trace = Trace(inter=jnp.zeros(shape, jnp.int32), union=jnp.zeros(shape, jnp.int32),
                y=jnp.full(shape, -1, jnp.int32), x=jnp.full(shape, -1, jnp.int32),
                positive=jnp.zeros(shape, bool),
                click_index=jnp.zeros((batch, num_granularities), jnp.int32))
  min_num = jnp.full((batch,), max_clicks + 1, jnp.int32)  # official `min_num = 100`
  _, _, trace = jax.lax.fori_loop(0, num_granularities, one_granularity,
                                  (predictor.init(images, sizes), min_num, trace))
  return trace


# The predictor is a static argument hashed by value: equal predictors share one compilation.
# Sharding follows the inputs (the batch split over 'data', the variables replicated).
_program = jax.jit(_protocol_program, static_argnames=(
    "predictor", "max_clicks", "pred_thr", "target_iou", "use_granularity"))


def _select_oracle(trace):
  """Official `evaluate_sample_oracle` pick (numpy): fewest clicks, ties by IoU@1."""
  click_index = trace["click_index"]  # [N, G]
  iou1 = _ratio(trace["inter"][:, :, 0], trace["union"][:, :, 0])
  fewest = click_index == click_index.min(axis=1, keepdims=True)
  return np.argmax(np.where(fewest, iou1, -np.inf), axis=1)


def _ratio(inter, union):
  with np.errstate(invalid="ignore", divide="ignore"):
    return inter.astype(np.float64) / union.astype(np.float64)


def _bucket_shape(shape, multiple):
  return tuple(parallel.round_up(s, multiple) for s in shape)


def run_click_protocol(predict_fn, images, gt_masks, *, max_clicks=20, pred_thr=0.49,
                       granularity=None, mesh=None, target_iou=0.90, batch_size=None,
                       bucket_multiple=64, progress=None):
  """Runs the NoC click protocol on every instance.

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
    mesh: a `parallel.make_mesh()` mesh; the batch axis is split over its 'data' axis.
    target_iou: an instance stops once IoU >= target_iou (official 0.90; 0.85 for parts);
      None never stops (the official --iou-analysis mode).
    batch_size: instances per jitted program (default 8 per device); padded with dummies.
    bucket_multiple: image sizes are rounded up to this multiple to form the size buckets.
    progress: optional callable(num_instances_done) called after every batch.
  Returns:
    dict of numpy arrays: 'ious' [N, max_clicks] float64 (after each click, the last value
    repeated after the stop), 'y', 'x' [N, max_clicks] int32 clicks (-1 after the stop),
    'positive' [N, max_clicks] bool, 'num_clicks' [N] (official trajectory length),
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
  batch_size = batch_size or 8 * shards
  batch_size = parallel.round_up(batch_size, shards)

  variables = predictor.variables
  if mesh is not None:
    variables = parallel.put(variables, parallel.replicated(mesh))
  static = dict(predictor=predictor.static(), max_clicks=max_clicks, pred_thr=pred_thr,
                target_iou=target_iou, use_granularity=use_granularity)

  buckets = {}
  for i, mask in enumerate(gt_masks):
    if np.shape(images[i])[:2] != np.shape(mask):
      raise ValueError(f"instance {i}: image {np.shape(images[i])} and mask {np.shape(mask)} differ")
    buckets.setdefault(_bucket_shape(np.shape(mask), bucket_multiple), []).append(i)

  keys = ("inter", "union", "y", "x", "positive", "click_index")
  out = {k: [None] * num for k in keys}
  done = 0
  for (height, width), members in sorted(buckets.items()):
    for start in range(0, len(members), batch_size):
      index = members[start:start + batch_size]
      batch = _pack(images, gt_masks, grid, index, batch_size, height, width)
      if mesh is not None:
        batch = parallel.shard_batch(batch, mesh)
      trace = parallel.to_host(_program(variables, *batch, **static))
      for j, i in enumerate(index):
        for k in keys:
          out[k][i] = getattr(trace, k)[j]
      done += len(index)
      if progress is not None:
        progress(done)

  trace = {k: np.stack(v) for k, v in out.items()}
  pick = _select_oracle(trace) if oracle else np.zeros(num, int)
  rows = np.arange(num)
  inter, union = trace["inter"][rows, pick], trace["union"][rows, pick]
  result = dict(
      ious=_ratio(inter, union),
      y=trace["y"][rows, pick], x=trace["x"][rows, pick], positive=trace["positive"][rows, pick],
      num_clicks=trace["click_index"][rows, pick] + 1,
      granularity=grid[rows, pick] if use_granularity else np.full(num, np.nan, np.float32),
  )
  if oracle:
    result["oracle_ious"] = _ratio(trace["inter"], trace["union"])
    result["oracle_num_clicks"] = trace["click_index"] + 1
  return result


def to_official_ious(result) -> list:
  """The official `all_ious` list: per instance, the IoUs up to where its loop stopped."""
  return [ious[:n] for ious, n in zip(result["ious"], result["num_clicks"])]


def _pack(images, gt_masks, grid, index, batch_size, height, width):
  """Pads the instances `index` into one [batch_size, height, width] batch (numpy)."""
  imgs = np.zeros((batch_size, height, width, 3), np.float32)
  gt = np.zeros((batch_size, height, width), bool)
  not_ignore = np.zeros((batch_size, height, width), bool)
  in_image = np.zeros((batch_size, height, width), bool)
  sizes = np.ones((batch_size, 2), np.int32)
  gra = np.ones((batch_size, grid.shape[1]), np.float32)
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
  return imgs, gt, not_ignore, in_image, sizes, gra


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
