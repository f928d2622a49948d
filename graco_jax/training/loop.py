"""The training loop, plain Python top to bottom: `train(config, workdir)`.

Build the mesh, the data source and the train state; resume from the latest checkpoint in
`workdir` if there is one (parameters, optimizer state, RNG and the data iterator's position);
then step, log and checkpoint. A non-finite loss stops the run with an error naming the step
(no checkpoint is written from then on, so the last one stays good); SIGTERM (preemption)
writes a checkpoint at the current step and returns cleanly.

Files in workdir: model_config.json, checkpoints/<step>/{params,state,data},
metrics.csv (one row per log interval) and TensorBoard event files under tb/ (scalars,
the histogram of sampled granularities and prediction images: training/tensorboard.py).
"""

import os
import signal
import threading
import time

import grain
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
import tqdm

from graco_jax import checkpoints, io, parallel
from graco_jax.data import pipeline, registry
from graco_jax.errors import InputError
from graco_jax.model import init_params
from graco_jax.training import optim, step as step_lib, tensorboard


class NonFiniteLossError(FloatingPointError):
  pass


def load_initial_variables(config: ml_collections.ConfigDict, rng):
  """Random init, with every parameter found in `config.train.init_from` copied over by path.

  `init_from` is a graco-jax checkpoint directory (e.g. an object-level SimpleClick run), an
  official SimpleClick / GraCo `.pth`, or an MAE pre-trained ViT `.pth` ({'model': ...}), which
  initialises the backbone only. Parameters the source lacks (LoRA, granularity embedding when
  starting GCL) keep their fresh init.
  """
  variables = init_params(config.model, rng)
  source = config.train.init_from
  if not source:
    return variables
  if source.endswith(".pth"):
    if "model" in checkpoints.load_pth(source):
      return checkpoints.load_mae_backbone(source, config.model, variables)[0]
    loaded = optim.flatten(checkpoints.import_official(source)[1])
  else:
    loaded = optim.flatten(checkpoints.restore_params(source))
  flat = optim.flatten(variables)
  for path, value in loaded.items():
    if path not in flat:
      continue  # e.g. LoRA factors of a GraCo checkpoint loaded into a SimpleClick model
    if np.shape(value) != flat[path].shape:
      raise InputError(f"{source}: parameter {path} has shape {np.shape(value)}, the model "
                       f"expects {flat[path].shape}")
    flat[path] = jax.numpy.asarray(value, flat[path].dtype)
  missing = [p for p in flat if p not in loaded and not optim.is_trainable(p, config.optimizer)]
  if missing and config.optimizer.mode == "gcl":
    raise InputError(f"{source}: GCL freezes parameters the checkpoint lacks, e.g. {missing[:3]}")
  return optim.unflatten(flat)


def _save(manager, state, data_iter, step):
  # The data item is grain's own handler: one file per process (each reads its own slice),
  # where a JSON item would keep process 0's iterator position only.
  manager.save(step, args=ocp.args.Composite(
      params=ocp.args.StandardSave(state.params),
      state=ocp.args.StandardSave({"step": state.step, "opt_state": state.opt_state,
                                   "rng": state.rng}),
      data=grain.checkpoint.CheckpointSave(data_iter)))


def _restore(manager, state, data_iter, step):
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state)
  restored = manager.restore(step, args=ocp.args.Composite(
      params=ocp.args.StandardRestore(abstract.params),
      state=ocp.args.StandardRestore({"step": abstract.step, "opt_state": abstract.opt_state,
                                      "rng": abstract.rng}),
      data=grain.checkpoint.CheckpointRestore(data_iter)))
  s = restored["state"]
  return state.replace(params=restored["params"], step=s["step"], opt_state=s["opt_state"],
                       rng=s["rng"])


class _Preemption:
  """SIGTERM (preemption) as a check between steps.

  One process: a Python signal handler sets a flag (main thread only). Several: JAX's preemption
  sync manager (started by jax.distributed.initialize) owns SIGTERM and names one step at which
  every process stops, whichever of them got the signal; a Python handler would replace its.
  """

  def __init__(self):
    self.requested = False
    self._previous = None
    self._multiprocess = jax.process_count() > 1

  def __enter__(self):
    if not self._multiprocess and threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    return self

  def _handle(self, signum, frame):
    del signum, frame
    self.requested = True

  def reached(self, step) -> bool:
    if self._multiprocess:
      from jax.experimental import multihost_utils
      return multihost_utils.reached_preemption_sync_point(step)
    return self.requested

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def train(config: ml_collections.ConfigDict, workdir: str, on_step=None) -> dict:
  """Trains until config.train.num_steps (or num_epochs); returns {'params': variables,
  'metrics': last logged metrics, 'step': int, 'preempted': bool}. `on_step(done, total)` is
  called after every step (the quickstart's pipeline-wide progress bar)."""
  tc = config.train
  mesh = parallel.make_mesh(tc.num_devices if tc.num_devices > 0 else None)
  num_processes, process_index = jax.process_count(), jax.process_index()
  if tc.batch_size % (parallel.data_size(mesh) * tc.grad_accum_steps):
    raise InputError(f"batch_size {tc.batch_size} is not a multiple of devices "
                     f"({parallel.data_size(mesh)}) x grad_accum_steps ({tc.grad_accum_steps})")
  source = registry.build_source(config.data)
  steps_per_epoch = tc.steps_per_epoch if tc.steps_per_epoch > 0 else max(
      len(source) // tc.batch_size, 1)
  total_steps = tc.num_steps if tc.num_steps > 0 else tc.num_epochs * steps_per_epoch

  init_rng = jax.random.PRNGKey(config.seed)
  variables = load_initial_variables(config, jax.random.fold_in(init_rng, 1))
  state, tx, trainable, schedule = step_lib.create_train_state(
      init_rng, config, steps_per_epoch, total_steps, variables)
  state_sharding = jax.tree.map(lambda _: parallel.replicated(mesh), state)
  state = parallel.put(state, state_sharding)

  if process_index == 0:
    checkpoints.write_model_config(workdir, config.model)
  manager = checkpoints.checkpoint_manager(workdir, tc.keep_checkpoints, tc.async_checkpoints)
  dataset = pipeline.make_train_dataset(
      source, config, batch_size=tc.batch_size // num_processes, seed=config.seed,
      process_index=process_index, process_count=num_processes)
  data_iter = iter(dataset)
  start = manager.latest_step()
  if start is not None:
    state = parallel.put(_restore(manager, state, data_iter, start), state_sharding)
  start = int(start or 0)

  batch_sharding = parallel.data_sharding(mesh)
  update_fn = predict_fn = None
  log_path = io.join(workdir, "metrics.csv")
  is_chief = process_index == 0
  writer = tensorboard.open_writer(io.join(workdir, "tb")) if is_chief else None
  totals, count, last_metrics, sampled = {}, 0, {}, []
  tick, preempted = time.perf_counter(), False
  bar = tqdm.tqdm(total=total_steps, initial=start, disable=not (tc.progress and is_chief),
                  desc="train", dynamic_ncols=True)
  try:
    with _Preemption() as preemption:
      for step in range(start, total_steps):
        if preemption.reached(step):
          if manager.latest_step() != step:
            _save(manager, state, data_iter, step)
          preempted = True
          break
        local = next(data_iter)
        batch = jax.tree.map(
            lambda x: jax.make_array_from_process_local_data(batch_sharding, x), local)
        if update_fn is None:
          update_fn = step_lib.jit_update_fn(step_lib.make_update_fn(config, tx, trainable),
                                             state, mesh, batch)
        rng = jax.random.fold_in(state.rng, step)
        state, metrics = update_fn(state, batch, rng)
        metrics = parallel.to_host(metrics)
        if not np.isfinite(metrics["loss"]):
          manager.wait_until_finished()
          raise NonFiniteLossError(
              f"loss is {metrics['loss']} at step {step + 1}; stopping. The last good "
              f"checkpoint is step {manager.latest_step()} in "
              f"{checkpoints.manager.checkpoint_dir(workdir)}")
        for k, v in metrics.items():
          totals[k] = totals.get(k, 0.0) + float(v)
        sampled.append(np.asarray(local["granularity"]))
        count += 1
        done = step + 1
        bar.update(1)
        if on_step is not None:
          on_step(done, total_steps)
        if done % tc.log_every == 0 or done == total_steps:
          elapsed = time.perf_counter() - tick
          last_metrics = {k: v / count for k, v in totals.items()}
          last_metrics["samples_per_s"] = count * tc.batch_size / max(elapsed, 1e-9)
          last_metrics["learning_rate"] = float(schedule(step))
          bar.set_postfix(loss=f"{last_metrics['loss']:.4f}", iou=f"{last_metrics['iou']:.3f}")
          if is_chief:
            if not tc.progress:  # the bar's postfix is the console log otherwise
              print(f"step {done}: " + ", ".join(f"{k} {v:.4g}" for k, v in
                                                 sorted(last_metrics.items())), flush=True)
            _append_csv(log_path, done, last_metrics)
            for k, v in last_metrics.items():
              writer.add_scalar(f"train/{k}", v, done)
            tensorboard.write_granularities(writer, np.concatenate(sampled), done)
            writer.flush()
          totals, count, sampled, tick = {}, 0, [], time.perf_counter()
        if tc.image_every > 0 and done % tc.image_every == 0:
          if predict_fn is None:  # every process runs it: the batch spans all of them
            predict_fn = step_lib.make_predict_fn(config, tc.num_images, mesh)
          shown = parallel.to_host(predict_fn(state.params, batch))
          if is_chief:
            writer.add_image("train/predictions", tensorboard.prediction_grid(
                shown["image"], shown["mask"], shown["probs"], shown["coords"],
                shown["is_positive"], shown["valid"]), done, dataformats="HWC")
        if done % tc.checkpoint_every == 0 or done == total_steps:
          _save(manager, state, data_iter, done)
        if done == tc.preempt_at_step and process_index == num_processes - 1:
          os.kill(os.getpid(), signal.SIGTERM)  # a preemption drill through the real signal
  finally:
    bar.close()
    manager.wait_until_finished()
    manager.close()
    if hasattr(data_iter, "close"):
      data_iter.close()  # grain worker processes and their shared memory
    if writer is not None:
      writer.close()
  return {"params": state.params, "metrics": last_metrics, "step": int(state.step),
          "preempted": preempted}


def _append_csv(path, step, metrics):
  keys = sorted(metrics)
  row = ",".join([str(step)] + [f"{metrics[k]:.6g}" for k in keys]) + "\n"
  header = "" if io.exists(path) else ",".join(["step"] + keys) + "\n"
  io.append_text(path, header + row)
