"""Device mesh and sharding helpers: one 'data' axis, the same code on 1 CPU or a TPU pod.

Batches are split over the 'data' axis; parameters are replicated. Host-side batches are padded
to a multiple of the device count (with a validity mask) so shapes stay static.
"""

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from graco_jax.errors import InputError

DATA_AXIS = "data"


def add_distributed_arguments(parser) -> None:
  """The multi-process flags of `graco-jax train | generate | evaluate`."""
  parser.add_argument("--distributed", action="store_true",
                      help="multi-process: join the other processes through "
                      "jax.distributed.initialize(); on TPU pods and SLURM it finds them itself")
  parser.add_argument("--coordinator-address", default=None,
                      help="host:port of process 0 (other clusters; implies --distributed)")
  parser.add_argument("--num-processes", type=int, default=None, help="with --coordinator-address")
  parser.add_argument("--process-id", type=int, default=None, help="with --coordinator-address")


def initialize_from_args(args) -> None:
  if args.distributed or args.coordinator_address:
    initialize_distributed(args.coordinator_address, args.num_processes, args.process_id)


def initialize_distributed(coordinator_address=None, num_processes=None, process_id=None):
  """Joins the other processes of a multi-process run; call before any other JAX call.

  Without arguments JAX reads the coordinator address, process count and index from the
  cluster environment (TPU pods, SLURM, Open MPI); elsewhere pass all three. CPU processes
  exchange collectives through gloo (the local multi-process smoke test).
  """
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  try:
    jax.distributed.initialize(coordinator_address, num_processes, process_id)
  except (ValueError, RuntimeError) as e:
    if coordinator_address is not None or jax.process_count() > 1:
      raise RuntimeError(f"multi-process start-up failed: {e}") from e
    print(f"--distributed: no cluster found ({e}); running as a single process")


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
  """Places a host pytree on the mesh split along the batch axis (on the default device without).

  With several processes every process passes the whole batch and places its own rows.
  """
  if mesh is None:
    return jax.device_put(tree)
  return put(tree, data_sharding(mesh))


def put(tree, sharding):
  """`jax.device_put(tree, sharding)` for shardings that may span several processes: each
  process passes the same (host or local-device) values and places its own shards.
  `sharding`: one for every leaf, or a tree of them matching `tree`."""
  if isinstance(sharding, jax.sharding.Sharding):
    sharding = jax.tree.map(lambda _: sharding, tree)

  def place(x, s):
    if s.is_fully_addressable or (isinstance(x, jax.Array) and not x.is_fully_addressable):
      return jax.device_put(x, s)
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, s, lambda index: x[index])
  return jax.tree.map(place, tree, sharding)


def to_host(tree):
  """`jax.device_get` that also works on arrays spread over several processes: every process
  gets the whole array (an all-gather across processes)."""
  def get(x):
    if not isinstance(x, jax.Array) or x.is_fully_addressable:
      return jax.device_get(x)
    if x.is_fully_replicated:
      return np.asarray(x.addressable_data(0))
    from jax.experimental import multihost_utils
    return np.asarray(multihost_utils.process_allgather(x, tiled=True))
  return jax.tree.map(get, tree)
