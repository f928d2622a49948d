"""Train-step throughput: our on-device click loop vs the reference host-side click loop.

Prints one JSON object: samples/s of the jitted `update_fn` (clicks simulated on device) and
of the same step built the reference way (official `ISTrainer.batch_forward`: each extra click
is placed on the host with numpy/scipy between jitted inference forwards, then one jitted
gradient step), their ratio, and model FLOP utilisation: FLOPs from the compiled programs'
cost analysis (training forward+backward + E[n] inference forwards, E[n] = max_clicks / 2, since
XLA counts a while-loop body once) over the machine's measured matmul peak.
Data loading is excluded: both variants step on the same device-resident batch.

  python benchmarks/train_throughput.py --config configs/graco.py:size=base \
      --batch-size 32 --steps 20 [--config.train.compute_dtype=float32]
"""

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

from graco_jax import hugepages, parallel
from graco_jax.config_utils import load_config
from graco_jax.interaction.clicks import ClickSet
from graco_jax.training import losses, optim, step as step_lib


def synthetic_batch(batch_size, height, width, capacity, seed=0):
  rng = np.random.default_rng(seed)
  mask = np.zeros((batch_size, height, width), np.int8)
  coords = np.zeros((batch_size, capacity, 2), np.int32)
  for b in range(batch_size):
    h, w = rng.integers(height // 6, height // 2), rng.integers(width // 6, width // 2)
    y, x = rng.integers(0, height - h), rng.integers(0, width - w)
    mask[b, y:y + h, x:x + w] = 1
    coords[b, 0] = (y + h // 2, x + w // 2)
  valid = np.zeros((batch_size, capacity), bool)
  valid[:, 0] = True
  return {"image": rng.integers(0, 255, (batch_size, height, width, 3)).astype(np.uint8),
          "mask": mask, "coords": coords, "is_positive": valid.copy(), "valid": valid,
          "granularity": np.ones(batch_size, np.float32)}


def samples_per_second(step, carry, steps, batch_size):
  """Times `carry = step(carry, key)` over `steps` calls after one warm-up (compiling) call;
  returns (samples/s, the last carry), since steps may donate their inputs."""
  carry = jax.block_until_ready(step(carry, jax.random.PRNGKey(0)))
  start = time.perf_counter()
  for i in range(steps):
    carry = step(carry, jax.random.PRNGKey(i + 1))
  jax.block_until_ready(carry)
  return steps * batch_size / (time.perf_counter() - start), carry


def matmul_peak(dtype, n, repeats=10):
  a = jnp.ones((n, n), dtype)
  f = jax.jit(lambda x: x @ x)
  f(a).block_until_ready()
  t = time.perf_counter()
  for _ in range(repeats):
    out = f(a)
  out.block_until_ready()
  return 2 * n**3 * repeats / (time.perf_counter() - t)


def flops(compiled):
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):
    analysis = analysis[0]
  return float(analysis.get("flops", 0.0)) if analysis else 0.0


def host_next_clicks(probs, labels, rng):
  """Official `get_next_points` on the host (numpy + scipy EDT): one click per instance."""
  pred = probs[..., 0] > step_lib.TRAIN_PRED_THRESHOLD
  gt = labels > 0
  out = []
  for b in range(pred.shape[0]):
    fn = np.pad(gt[b] & ~pred[b], 1)
    fp = np.pad(~gt[b] & pred[b] & (labels[b] >= 0), 1)
    fn_dt = ndimage.distance_transform_edt(fn)[1:-1, 1:-1]
    fp_dt = ndimage.distance_transform_edt(fp)[1:-1, 1:-1]
    positive = fn_dt.max() > fp_dt.max()
    dt = fn_dt if positive else fp_dt
    inner = np.argwhere(dt > max(fn_dt.max(), fp_dt.max()) / 2)
    out.append((inner[rng.integers(len(inner))], positive) if len(inner) else None)
  return out


def main():
  hugepages.reexec_with_huge_pages()  # as the graco-jax CLI runs
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", required=True)
  parser.add_argument("--batch-size", type=int, default=None)
  parser.add_argument("--steps", type=int, default=10)
  args, overrides = parser.parse_known_args()
  config = load_config(args.config, overrides)
  if args.batch_size:
    config.train.batch_size = args.batch_size
  batch_size = config.train.batch_size
  height, width = config.model.crop_size
  max_clicks = config.train.max_num_next_clicks
  mesh = parallel.make_mesh()
  state, tx, trainable, _ = step_lib.create_train_state(jax.random.PRNGKey(0), config, 1000,
                                                        100000)
  state = jax.device_put(state, jax.tree.map(lambda _: parallel.replicated(mesh), state))
  capacity = 2 * config.train.max_num_points + max_clicks
  host_batch = synthetic_batch(batch_size, height, width, capacity)
  batch = jax.device_put(host_batch, parallel.data_sharding(mesh))

  # Ours: one jitted step, click loop on device.
  update = step_lib.jit_update_fn(step_lib.make_update_fn(config, tx, trainable), state, mesh,
                                  batch)
  compiled = update.lower(state, batch, jax.random.PRNGKey(0)).compile()
  ours, (state, _) = samples_per_second(lambda carry, key: update(carry[0], batch, key),
                                       (state, None), args.steps, batch_size)

  # Reference: inference forwards jitted, clicks placed on the host in between.
  model = step_lib.training_model(config)
  loss_fn = losses.get_loss(config.train.loss)

  @jax.jit
  def infer(variables, image, clicks, prev, granularity):
    return jax.nn.sigmoid(model.apply(variables, image, clicks, prev, granularity))

  @jax.jit
  def grad_step(params, opt_state, image, labels, clicks, prev, granularity, key):
    flat = optim.flatten(params)
    tp = {p: flat[p] for p in trainable}
    frozen = {p: v for p, v in flat.items() if p not in tp}

    def loss(tp):
      logits = model.apply(optim.unflatten({**frozen, **tp}), image, clicks, prev, granularity,
                           train=True, rngs={"dropout": key})
      return jnp.mean(loss_fn(logits, labels[..., None].astype(jnp.float32)))

    grads = jax.grad(loss)(tp)
    updates, opt_state = tx.update(grads, opt_state, tp)
    new = jax.tree.map(jnp.add, tp, updates)
    return optim.unflatten({**frozen, **new}), opt_state

  params, opt_state = state.params, state.opt_state
  granularity = jnp.asarray(host_batch["granularity"]) if config.model.use_granularity else None
  image = jnp.asarray(host_batch["image"], jnp.float32) / 255
  labels = host_batch["mask"].astype(np.int32)
  rng = np.random.default_rng(0)

  def reference_step(params, opt_state, key):
    coords = host_batch["coords"].copy()
    positive, valid = host_batch["is_positive"].copy(), host_batch["valid"].copy()
    prev = np.zeros((batch_size, height, width, 1), np.float32)
    for _ in range(rng.integers(0, max_clicks + 1)):
      clicks = ClickSet(jnp.asarray(coords), jnp.asarray(positive), jnp.asarray(valid))
      prev = np.asarray(infer(params, image, clicks, jnp.asarray(prev), granularity))
      for b, click in enumerate(host_next_clicks(prev, labels, rng)):
        if click is not None:
          k = int(valid[b].sum())
          coords[b, k], positive[b, k], valid[b, k] = click[0], click[1], True
    clicks = ClickSet(jnp.asarray(coords), jnp.asarray(positive), jnp.asarray(valid))
    return grad_step(params, opt_state, image, jnp.asarray(labels), clicks, jnp.asarray(prev),
                     granularity, key)

  empty = ClickSet(jnp.asarray(host_batch["coords"]), jnp.asarray(host_batch["is_positive"]),
                   jnp.asarray(host_batch["valid"]))
  infer(params, image, empty, jnp.zeros((batch_size, height, width, 1)), granularity)  # compile
  reference, (params, opt_state) = samples_per_second(
      lambda carry, key: reference_step(*carry, key), (params, opt_state), args.steps, batch_size)

  # FLOPs: training forward+backward (step without clicks) + expected inference forwards.
  no_click = config.copy_and_resolve_references()
  no_click.train.max_num_next_clicks = 0
  train_flops = flops(jax.jit(step_lib.make_update_fn(no_click, tx, trainable)).lower(
      state, batch, jax.random.PRNGKey(0)).compile())
  infer_flops = flops(infer.lower(params, image, empty, jnp.zeros((batch_size, height, width,
                                                                   1)), granularity).compile())
  step_flops = train_flops + infer_flops * max_clicks / 2
  on_cpu = jax.devices()[0].platform == "cpu"
  dtype = jnp.float32 if config.train.compute_dtype == "float32" else jnp.bfloat16
  peak = matmul_peak(dtype, 1024 if on_cpu else 8192) * len(jax.devices())
  print(json.dumps({
      "config": args.config, "device": jax.devices()[0].device_kind,
      "num_devices": len(jax.devices()), "batch_size": batch_size, "crop": [height, width],
      "dtype": config.train.compute_dtype, "steps": args.steps,
      "samples_per_s": round(ours, 3), "reference_samples_per_s": round(reference, 3),
      "speedup_vs_reference": round(ours / reference, 3),
      "step_gflops": round(step_flops / 1e9, 3),
      "compiled_step_gflops_loop_counted_once": round(flops(compiled) / 1e9, 3),
      "measured_matmul_peak_tflops": round(peak / 1e12, 4),
      "mfu": round(step_flops * ours / batch_size / peak, 4),
  }))


if __name__ == "__main__":
  main()
