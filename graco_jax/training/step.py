"""The train step: one jitted pure function, clicks simulated on device.

`update_fn(state, batch, rng) -> (state, metrics)` (official `ISTrainer.batch_forward`):
1. draw the number of extra clicks n in [0, max_num_next_clicks] from the step key;
2. n times, run the model in inference mode (no dropout, no gradient) on the current clicks and
   previous mask, place the next click with the training rule (random point deep inside the
   larger error region at threshold 0.49) and feed the probabilities back as previous mask;
3. if n > 0, zero the previous mask of each instance with probability prev_mask_drop_prob;
4. take the gradient of the loss of one training-mode forward on the final clicks.
The loop is a `lax.fori_loop` with a traced trip count: nothing leaves the device. Only the
trainable parameters (see optim.py) are differentiated and updated; the frozen ones pass
through untouched.

A batch is a dict of arrays with leading axis B: 'image' [B, H, W, 3] (uint8, or float in
[0, 1]), 'mask' [B, H, W] int8 (1 / 0 / -1 ignore), 'coords' [B, K, 2] int32 (y, x),
'is_positive' [B, K] bool, 'valid' [B, K] bool (the initial clicks) and 'granularity' [B].
"""

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from graco_jax import parallel
from graco_jax.interaction.clicks import ClickSet, add_click
from graco_jax.interaction.simulate import iou_counts, next_click_train
from graco_jax.model import create_model, init_params
from graco_jax.training import losses, optim

TRAIN_PRED_THRESHOLD = 0.49  # official get_next_points(pred_thresh=0.49)


@flax.struct.dataclass
class TrainState:
  step: jax.Array  # [] int32
  params: dict  # the variables dict {'params': ...}, float32
  opt_state: optax.OptState  # over the trainable parameters only
  rng: jax.Array  # [2] uint32, the run's base key; step keys are fold_in(rng, step)


def create_train_state(rng, config: ml_collections.ConfigDict, steps_per_epoch: int,
                       total_steps: int, variables=None):
  """(state, tx, trainable paths, lr schedule): random init, or `variables` ({'params': ...})."""
  init_rng, train_rng = jax.random.split(rng)
  if variables is None:
    variables = init_params(config.model, init_rng)
  tx, paths, schedule = optim.make_optimizer(variables, config.optimizer, config.model.depth,
                                             steps_per_epoch, total_steps)
  flat = optim.flatten(variables)
  opt_state = tx.init({p: flat[p] for p in paths})
  state = TrainState(step=jnp.zeros((), jnp.int32), params=variables, opt_state=opt_state,
                     rng=train_rng)
  return state, tx, paths, schedule


def batch_clicks(batch) -> ClickSet:
  return ClickSet(coords=batch["coords"], is_positive=batch["is_positive"], valid=batch["valid"])


def as_float_image(image):
  if image.dtype == jnp.uint8:
    return image.astype(jnp.float32) / 255.0
  return image.astype(jnp.float32)


def simulate_clicks(apply_fn, params, image, labels, clicks, granularity, rng, *,
                    max_num_next_clicks: int, prev_mask_drop_prob: float):
  """Steps 1-3 above; returns (clicks, prev_mask [B, H, W, 1], number of extra clicks)."""
  batch, height, width = labels.shape
  k_iters, k_loop, k_drop = jax.random.split(rng, 3)
  num_iters = jax.random.randint(k_iters, (), 0, max_num_next_clicks + 1)
  params = jax.lax.stop_gradient(params)
  gt = labels > 0
  not_ignore = labels >= 0  # the official trainer has no ignore label; SBD training has none

  def body(i, carry):
    clicks, prev = carry
    logits = apply_fn(params, image, clicks, prev, granularity, train=False)
    probs = jax.nn.sigmoid(logits)
    y, x, is_positive, found = next_click_train(
        jax.random.fold_in(k_loop, i), probs[..., 0] > TRAIN_PRED_THRESHOLD, gt, not_ignore)
    return add_click(clicks, y, x, is_positive, where=found), probs

  prev = jnp.zeros((batch, height, width, 1), jnp.float32)
  clicks, prev = jax.lax.fori_loop(0, num_iters, body, (clicks, prev))
  drop = jax.random.uniform(k_drop, (batch,)) < prev_mask_drop_prob
  drop &= num_iters > 0
  prev = jnp.where(drop[:, None, None, None], 0.0, prev)
  return jax.lax.stop_gradient(clicks), jax.lax.stop_gradient(prev), num_iters


def iou(logits, labels):
  """Per-instance IoU of logits > 0 against labels == 1 over non-ignored pixels, [B]."""
  inter, union = iou_counts(logits[..., 0] > 0, labels > 0, labels >= 0)
  return jnp.where(union > 0, inter / jnp.maximum(union, 1), 1.0)


def training_model(config: ml_collections.ConfigDict):
  """The model at `config.train.compute_dtype` (bfloat16 on accelerators); parameters and the
  saved model config stay float32, so evaluation is unaffected."""
  model_config = ml_collections.ConfigDict(config.model.to_dict())
  model_config.dtype = config.train.compute_dtype
  return create_model(model_config)


def make_update_fn(config: ml_collections.ConfigDict, tx, trainable: tuple):
  """Builds `update_fn(state, batch, rng) -> (state, metrics)` (not yet jitted)."""
  model = training_model(config)
  loss_fn_impl = losses.get_loss(config.train.loss)
  use_granularity = config.model.use_granularity
  accum = config.train.grad_accum_steps

  def microbatch_grads(trainable_params, frozen, batch, rng):
    k_clicks, k_dropout = jax.random.split(rng)
    image = as_float_image(batch["image"])
    labels = batch["mask"].astype(jnp.int32)
    granularity = batch["granularity"].astype(jnp.float32) if use_granularity else None
    variables = optim.unflatten({**frozen, **trainable_params})
    clicks, prev, num_iters = simulate_clicks(
        model.apply, variables, image, labels, batch_clicks(batch), granularity, k_clicks,
        max_num_next_clicks=config.train.max_num_next_clicks,
        prev_mask_drop_prob=config.train.prev_mask_drop_prob)

    def loss_fn(tp):
      v = optim.unflatten({**frozen, **tp})
      logits = model.apply(v, image, clicks, prev, granularity, train=True,
                           rngs={"dropout": k_dropout})
      per_instance = loss_fn_impl(logits, labels[..., None].astype(jnp.float32))
      return jnp.mean(per_instance), logits

    (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(trainable_params)
    metrics = {"loss": loss, "iou": jnp.mean(iou(logits, labels)),
               "num_next_clicks": num_iters.astype(jnp.float32)}
    return grads, metrics

  def update_fn(state: TrainState, batch, rng):
    flat = optim.flatten(state.params)
    trainable_params = {p: flat[p] for p in trainable}
    frozen = {p: v for p, v in flat.items() if p not in trainable_params}
    if accum == 1:
      grads, metrics = microbatch_grads(trainable_params, frozen, batch, rng)
    else:
      def split(x):  # [B, ...] -> [A, B / A, ...], keeping each device's rows together
        x = x.reshape((x.shape[0] // accum, accum) + x.shape[1:])
        return jnp.moveaxis(x, 1, 0)
      micro = jax.tree.map(split, batch)

      def body(carry, inputs):
        i, mb = inputs
        g, m = microbatch_grads(trainable_params, frozen, mb, jax.random.fold_in(rng, i))
        return jax.tree.map(jnp.add, carry, (g, m)), None

      zero = jnp.zeros((), jnp.float32)
      zeros = (jax.tree.map(jnp.zeros_like, trainable_params),
               {"loss": zero, "iou": zero, "num_next_clicks": zero})
      (grads, metrics), _ = jax.lax.scan(body, zeros, (jnp.arange(accum), micro))
      grads = jax.tree.map(lambda g: g / accum, grads)
      metrics = jax.tree.map(lambda m: m / accum, metrics)
    updates, opt_state = tx.update(grads, state.opt_state, trainable_params)
    new_trainable = optax.apply_updates(trainable_params, updates)
    metrics["grad_norm"] = optax.tree.norm(grads)
    params = optim.unflatten({**frozen, **new_trainable})
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
    return new_state, metrics

  return update_fn


def make_predict_fn(config: ml_collections.ConfigDict, num: int, mesh):
  """jit `(params, batch) -> dict`: the first `num` examples of a (global) batch with 'image' as
  float and 'probs' [num, H, W], the model's answer to their initial clicks (eval mode, no
  previous mask), replicated so that every process can read it (the TensorBoard images)."""
  model = training_model(config)
  use_granularity = config.model.use_granularity

  def predict(params, batch):
    shown = jax.tree.map(lambda x: x[:num], batch)
    image = as_float_image(shown["image"])
    granularity = shown["granularity"].astype(jnp.float32) if use_granularity else None
    prev = jnp.zeros(image.shape[:3] + (1,), jnp.float32)
    logits = model.apply(params, image, batch_clicks(shown), prev, granularity, train=False)
    return {**shown, "image": image, "probs": jax.nn.sigmoid(logits[..., 0].astype(jnp.float32))}

  return jax.jit(predict, out_shardings=parallel.replicated(mesh))


def jit_update_fn(update_fn, state, mesh, batch_example):
  """jit with the state replicated, the batch split over the mesh's 'data' axis and the old
  state donated. Gradients come out averaged over the global batch by the jit's semantics."""
  rep = parallel.replicated(mesh)
  data = parallel.data_sharding(mesh)
  state_sharding = jax.tree.map(lambda _: rep, state)
  batch_sharding = jax.tree.map(lambda _: data, batch_example)
  return jax.jit(update_fn, in_shardings=(state_sharding, batch_sharding, rep),
                 out_shardings=(state_sharding, rep), donate_argnums=(0,))
