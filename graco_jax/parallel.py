"""Device mesh and sharding helpers: one 'data' axis, the same code on 1 CPU or a TPU pod.

Batches are split over the 'data' axis; parameters are replicated. Host-side batches are padded
to a multiple of the device count (with a validity mask) so shapes stay static.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from graco_jax.errors import InputError

DATA_AXIS = "data"


def initialize_distributed():
  """Starts the multi-host runtime when launched on several hosts (no-op on one process).

  JAX reads the coordinator address, process count and index from the cluster environment
  (TPU pods, SLURM, Open MPI); call this once before any other JAX call.
  """
  try:
    jax.distributed.initialize()
  except (ValueError, RuntimeError) as e:  # single process: nothing to join
    if jax.process_count() > 1:
      raise RuntimeError(f"multi-host start-up failed: {e}") from e


def make_mesh(num_devices: int | None = None) -> Mesh:
  """A 1-D mesh with axis 'data' over the first `num_devices` devices (all by default)."""
  devices = jax.devices()
  if num_devices is not None:
    if not 1 <= num_devices <= len(devices):
      raise InputError(f"num_devices={num_devices} but {len(devices)} devices are available")
    devices = devices[:num_devices]
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def data_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over 'data', other axes whole."""
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  """The whole array on every device (parameters, scalars)."""
  return NamedSharding(mesh, P())


def data_size(mesh: Mesh | None) -> int:
  """Number of shards of the batch axis (1 without a mesh)."""
  return 1 if mesh is None else mesh.shape[DATA_AXIS]


def round_up(n: int, multiple: int) -> int:
  return -(-n // multiple) * multiple


def pad_to(x, size: int, axis: int = 0, value=0):
  """Pads numpy array `x` along `axis` to length `size` with `value`."""
  x = np.asarray(x)
  widths = [(0, 0)] * x.ndim
  widths[axis] = (0, size - x.shape[axis])
  return np.pad(x, widths, constant_values=value)


def pad_to_multiple(x, multiple: int, axis: int = 0, value=0):
  """Pads numpy array `x` along `axis` to a multiple of `multiple`; returns (padded, valid [N'])."""
  n = np.shape(x)[axis]
  target = round_up(max(n, 1), multiple)
  return pad_to(x, target, axis, value), np.arange(target) < n


def pad_batch(tree, multiple: int):
  """Pads every leaf of a pytree of numpy arrays along axis 0 to a multiple of `multiple`.

  Returns (padded tree, valid [N'] bool). Leaves must share their leading size.
  """
  leaves = jax.tree.leaves(tree)
  sizes = {np.shape(leaf)[0] for leaf in leaves}
  if len(sizes) != 1:
    raise ValueError(f"leaves have different leading sizes {sorted(sizes)}")
  (n,) = sizes
  padded = jax.tree.map(lambda leaf: pad_to_multiple(leaf, multiple)[0], tree)
  return padded, np.arange(round_up(max(n, 1), multiple)) < n


def shard_batch(tree, mesh: Mesh | None):
  """Places a host pytree on the mesh split along the batch axis (on the default device without)."""
  if mesh is None:
    return jax.device_put(tree)
  return jax.device_put(tree, data_sharding(mesh))
