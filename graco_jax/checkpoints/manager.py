"""Our own checkpoints: orbax steps under `workdir/checkpoints` plus `workdir/model_config.json`.

Training stores three items per step in one manager: 'params' (the variables dict
{'params': ...}), 'state' (optimizer state, step, rng) and 'data' (the iterator state).
Orbax writes each step to a temporary folder and renames it when complete, so a step either
exists whole or not at all. Inference restores only 'params'; arrays are restored onto the
shardings of a given target, or as host numpy arrays without one, so a checkpoint written on
8 devices restores on 1 and the other way round.
"""

import json
from typing import Optional

import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from graco_jax import io
from graco_jax.errors import InputError, MissingInputError

ITEM_NAMES = ("params", "state", "data")
CONFIG_FILE = "model_config.json"
_READ_ONLY = ocp.CheckpointManagerOptions(read_only=True, save_interval_steps=0, create=False)


def checkpoint_dir(workdir: str) -> str:
  return io.join(io.abspath(workdir), "checkpoints")


def checkpoint_manager(workdir: str, max_to_keep: Optional[int] = 3,
                       enable_async: bool = True) -> ocp.CheckpointManager:
  """A manager rooted at workdir/checkpoints with the items 'params', 'state', 'data'.

  Save with `manager.save(step, args=ocp.args.Composite(params=ocp.args.StandardSave(v), ...))`;
  call `manager.wait_until_finished()` before exiting when `enable_async`.
  """
  options = ocp.CheckpointManagerOptions(
      max_to_keep=max_to_keep, enable_async_checkpointing=enable_async, create=True)
  return ocp.CheckpointManager(checkpoint_dir(workdir), options=options, item_names=ITEM_NAMES)


def _tuples(value):
  """JSON lists back to the tuples our configs use (crop_size, neck_dims, lora.targets)."""
  if isinstance(value, dict):
    return {k: _tuples(v) for k, v in value.items()}
  if isinstance(value, list):
    return tuple(_tuples(v) for v in value)
  return value


def write_model_config(workdir: str, model_config: ml_collections.ConfigDict) -> str:
  """Writes workdir/model_config.json atomically; returns its path."""
  io.makedirs(workdir)
  path = io.join(workdir, CONFIG_FILE)
  text = json.dumps(model_config.to_dict(), indent=2, sort_keys=True)
  io.atomic_write_text(path, text + "\n")
  return path


def read_model_config(workdir: str) -> ml_collections.ConfigDict:
  path = io.join(workdir, CONFIG_FILE)
  if not io.exists(path):
    raise MissingInputError(f"{path}: no model config; is {workdir} a graco-jax checkpoint "
                            "directory (written by `graco-jax train` or `graco-jax import`)?")
  try:
    data = json.loads(io.read_text(path))
  except (OSError, ValueError) as e:
    raise InputError(f"{path}: unreadable model config: {e}") from e
  return ml_collections.ConfigDict(_tuples(data))


def save_params(workdir: str, model_config: ml_collections.ConfigDict, variables,
                step: int = 0) -> str:
  """Writes the model config and `variables` ({'params': ...}) as step `step`; returns workdir."""
  if "params" not in variables:
    raise ValueError("save_params expects the variables dict {'params': ...}")
  write_model_config(workdir, model_config)
  with checkpoint_manager(workdir, max_to_keep=None, enable_async=False) as manager:
    manager.save(step, args=ocp.args.Composite(params=ocp.args.StandardSave(variables)),
                 force=True)
    manager.wait_until_finished()
  return workdir


def latest_step(workdir: str) -> Optional[int]:
  """The newest complete step under workdir/checkpoints, or None."""
  if not io.isdir(checkpoint_dir(workdir)):
    return None
  with ocp.CheckpointManager(checkpoint_dir(workdir), options=_READ_ONLY) as manager:
    return manager.latest_step()


def restore_params(workdir: str, step: Optional[int] = None, target=None):
  """Restores only the 'params' item (the variables dict) of `step` (default: the latest).

  `target`: a pytree of arrays or jax.ShapeDtypeStruct with shardings to restore onto; without
  it every leaf comes back as a host numpy array, whatever the device count at save time.
  """
  directory = checkpoint_dir(workdir)
  if not io.isdir(directory):
    raise MissingInputError(f"{directory}: no checkpoints")
  with ocp.CheckpointManager(directory, options=_READ_ONLY,
                             item_handlers={"params": ocp.PyTreeCheckpointHandler()}) as manager:
    if step is None:
      step = manager.latest_step()
      if step is None:
        raise MissingInputError(f"{directory}: no complete checkpoint step")
    if step not in manager.all_steps():
      raise MissingInputError(f"{directory}: no step {step}; have {list(manager.all_steps())}")
    if target is None:
      metadata = manager.item_metadata(step)["params"]
      restore_args = jax.tree_util.tree_map(
          lambda _: ocp.RestoreArgs(restore_type=np.ndarray), metadata.tree)
      args = ocp.args.PyTreeRestore(restore_args=restore_args)
    else:
      target = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, target)
      args = ocp.args.PyTreeRestore(
          item=target, restore_args=ocp.checkpoint_utils.construct_restore_args(target))
    restored = manager.restore(step, args=ocp.args.Composite(params=args))
  return restored["params"]


def load_for_inference(workdir: str, step: Optional[int] = None):
  """(model_config, variables) from a checkpoint directory, variables = {'params': ...}.

  Only the parameters are read (no optimizer state); they land on the default device.
  """
  model_config = read_model_config(workdir)
  variables = restore_params(workdir, step)
  return model_config, jax.device_put(variables)
