"""PyTorch `.pth` files without torch: a restricted reader and a minimal writer.

A `.pth` file (torch >= 1.6) is a zip archive `<top>/data.pkl` + `<top>/data/<key>` (raw
little-endian storage bytes) + `<top>/version`; `<top>` varies (archive/, last_checkpoint/, ...).
The pickle refers to storages by persistent id ('storage', storage_type, key, location, numel)
and rebuilds tensors with `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)`.

Reading resolves only the globals a tensor state dict needs (tensor rebuild, storage types,
OrderedDict, set) to our own numpy implementations. Every other global becomes an inert record
of its name: calling, constructing or updating it stores its arguments and runs nothing. Files
whose pickle names globals outside the official checkpoints' vocabulary are refused unless the
caller allows them. Writing emits pickle protocol 2 by hand, so a written file names exactly
the globals `torch.load(..., weights_only=True)` accepts.
"""

import collections
import io as std_io
import pickle
import struct
import zipfile
from typing import Any

import ml_dtypes
import numpy as np

from graco_jax import io
from graco_jax.errors import InputError

# torch storage class name -> numpy dtype.
STORAGE_DTYPES = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype(ml_dtypes.bfloat16),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("bool"),
}
DTYPE_STORAGES = {v: k for k, v in STORAGE_DTYPES.items()}

# Globals outside the tensor vocabulary that official checkpoints carry in their metadata
# (a loss object and function of the official package inside `config`; training arguments and
# numpy scalars in MAE and SimpleClick training checkpoints). They load as inert records.
TOLERATED_PREFIXES = ("isegm.", "argparse.Namespace", "numpy.", "easydict.EasyDict")


class UnsafeCheckpointError(InputError):
  """A pickle names globals that no tensor checkpoint needs; nothing of it was executed."""


class InertGlobal:
  """Stands in for an untrusted global: remembers its name and what the pickle passed to it."""
  module = ""
  name = ""

  def __new__(cls, *args, **kwargs):
    obj = object.__new__(cls)
    obj.args, obj.kwargs, obj.state = args, kwargs, None
    return obj

  def __init__(self, *args, **kwargs):
    del args, kwargs  # stored by __new__

  def __setstate__(self, state):
    self.state = state

  def __repr__(self):
    return f"<inert {self.module}.{self.name}>"


class _StorageType:
  def __init__(self, name):
    self.name = name
    self.dtype = STORAGE_DTYPES[name]


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
  """numpy counterpart of torch._utils._rebuild_tensor_v2: a strided view, copied contiguous."""
  del requires_grad, backward_hooks, metadata
  if not isinstance(storage, np.ndarray) or storage.ndim != 1:
    raise pickle.UnpicklingError("tensor rebuilt from something that is not a storage")
  size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
  if len(size) != len(stride) or any(s < 0 for s in size + stride) or storage_offset < 0:
    raise pickle.UnpicklingError(f"bad tensor layout size={size} stride={stride}")
  if 0 in size:
    return np.zeros(size, storage.dtype)
  last = storage_offset + sum((n - 1) * s for n, s in zip(size, stride))
  if last >= storage.size:
    raise pickle.UnpicklingError(
        f"tensor of size {size} stride {stride} offset {storage_offset} overruns its storage "
        f"of {storage.size} elements")
  view = np.lib.stride_tricks.as_strided(
      storage[storage_offset:], shape=size,
      strides=tuple(s * storage.itemsize for s in stride), writeable=False)
  return np.array(view, order="C")


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
  del requires_grad, backward_hooks, state
  return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("__builtin__", "set"): set,
    ("builtins", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    ("builtins", "frozenset"): frozenset,
}
_ALLOWED.update({("torch", name): _StorageType(name) for name in STORAGE_DTYPES})


class _RestrictedUnpickler(pickle.Unpickler):
  """Resolves only `_ALLOWED`; every other global becomes an `InertGlobal` subclass."""

  def __init__(self, file, read_record):
    super().__init__(file)
    self._read_record = read_record
    self._storages = {}
    self.inert = []

  def find_class(self, module, name):
    if (module, name) in _ALLOWED:
      return _ALLOWED[(module, name)]
    full = f"{module}.{name}"
    if full not in self.inert:
      self.inert.append(full)
    return type(full, (InertGlobal,), {"module": module, "name": name})

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
      raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
    _, storage_type, key, _, numel = pid
    if not isinstance(storage_type, _StorageType):
      raise pickle.UnpicklingError(f"unsupported storage type {storage_type!r}")
    key = str(key)
    if key not in self._storages:
      raw = self._read_record(key)
      dtype = storage_type.dtype
      if len(raw) < int(numel) * dtype.itemsize:
        raise pickle.UnpicklingError(
            f"storage {key} holds {len(raw)} bytes, fewer than {numel} x {dtype}")
      self._storages[key] = np.frombuffer(raw, dtype, count=int(numel))
    return self._storages[key]


def _top_folder(names, path):
  tops = [n[:-len("data.pkl")] for n in names if n.endswith("data.pkl") and n.count("/") == 1]
  if len(tops) != 1:
    raise InputError(f"{path}: not a torch zip checkpoint (expected one <folder>/data.pkl, "
                     f"found {len(tops)})")
  return tops[0]


def load_pth(path: str, allow_unknown_globals: bool = False) -> Any:
  """The object stored in a `.pth` file, tensors as numpy arrays; executes none of its code.

  Globals outside the tensor vocabulary load as `InertGlobal` records. Unless
  `allow_unknown_globals`, a file naming globals that official checkpoints never name
  (e.g. os.system) raises UnsafeCheckpointError listing them.
  """
  try:
    file = io.open_file(path, "rb")  # streamed: official checkpoints reach gigabytes
    archive = zipfile.ZipFile(file)
  except zipfile.BadZipFile as e:
    raise InputError(f"{path}: not a zip-format torch checkpoint (legacy pre-1.6 torch files "
                     "are not supported; re-save with a recent torch)") from e
  except OSError as e:
    raise InputError(f"{path}: cannot open: {e}") from e
  with file, archive:
    names = archive.namelist()
    top = _top_folder(names, path)
    byteorder = "little"
    if top + "byteorder" in names:
      byteorder = archive.read(top + "byteorder").decode().strip()
    if byteorder != "little":
      raise InputError(f"{path}: big-endian storages are not supported")

    def read_record(key):
      try:
        return archive.read(f"{top}data/{key}")
      except KeyError:
        raise pickle.UnpicklingError(f"missing storage record {top}data/{key}") from None

    unpickler = _RestrictedUnpickler(std_io.BytesIO(archive.read(top + "data.pkl")), read_record)
    try:
      obj = unpickler.load()
    except Exception as e:  # the pickle is malformed; none of its globals ran
      raise InputError(f"{path}: unreadable checkpoint pickle: {e}") from e
  unknown = [g for g in unpickler.inert if not g.startswith(TOLERATED_PREFIXES)]
  if unknown and not allow_unknown_globals:
    raise UnsafeCheckpointError(
        f"{path}: refusing a checkpoint whose pickle names {', '.join(unknown)}; none of it was "
        "executed. A tensor checkpoint needs none of these: re-save the state dict, or pass "
        "allow_unknown_globals=True (`graco-jax import --allow-unknown-globals`) to read its "
        "tensors with these globals left inert.")
  return obj


# ---- writing -----------------------------------------------------------------------------


class _PickleWriter:
  """Pickle protocol 2 for nested dicts, lists, tuples, scalars, strings and numpy arrays."""

  def __init__(self):
    self.out = std_io.BytesIO()
    self.storages = []

  def _global(self, module, name):
    self.out.write(b"c" + f"{module}\n{name}\n".encode("ascii"))

  def dump(self, obj):
    self.out.write(b"\x80\x02")
    self._save(obj)
    self.out.write(b".")
    return self.out.getvalue()

  def _save(self, obj):
    w = self.out.write
    if obj is None:
      w(b"N")
    elif obj is True or obj is False:
      w(b"\x88" if obj else b"\x89")
    elif isinstance(obj, (int, np.integer)):
      obj = int(obj)
      if -2**31 <= obj < 2**31:
        w(b"J" + struct.pack("<i", obj))
      else:
        data = obj.to_bytes(obj.bit_length() // 8 + 1, "little", signed=True)
        w(b"\x8a" + bytes([len(data)]) + data)
    elif isinstance(obj, (float, np.floating)):
      w(b"G" + struct.pack(">d", float(obj)))
    elif isinstance(obj, str):
      data = obj.encode("utf-8")
      w(b"X" + struct.pack("<I", len(data)) + data)
    elif isinstance(obj, np.ndarray):
      self._save_tensor(obj)
    elif isinstance(obj, collections.OrderedDict):
      self._global("collections", "OrderedDict")
      w(b")R")
      self._save_items(obj)
    elif isinstance(obj, dict):
      w(b"}")
      self._save_items(obj)
    elif isinstance(obj, list):
      w(b"]")
      if obj:
        w(b"(")
        for item in obj:
          self._save(item)
        w(b"e")
    elif isinstance(obj, tuple):
      w(b"(")
      for item in obj:
        self._save(item)
      w(b"t")
    else:
      raise TypeError(f"cannot write {type(obj).__name__} to a .pth file")

  def _save_items(self, mapping):
    if mapping:
      self.out.write(b"(")
      for key, value in mapping.items():
        self._save(key)
        self._save(value)
      self.out.write(b"u")

  def _save_tensor(self, array):
    if array.dtype.byteorder == ">":
      array = array.astype(array.dtype.newbyteorder("<"))
    dtype = array.dtype
    if dtype not in DTYPE_STORAGES:
      raise TypeError(f"no torch storage type for dtype {dtype}")
    array = np.ascontiguousarray(array)
    key = str(len(self.storages))
    self.storages.append(array)
    strides, step = [], 1
    for n in reversed(array.shape):
      strides.insert(0, step)
      step *= n
    self._global("torch._utils", "_rebuild_tensor_v2")
    self.out.write(b"(")
    self.out.write(b"(")  # persistent id of the storage
    self._save("storage")
    self._global("torch", DTYPE_STORAGES[dtype])
    self._save(key)
    self._save("cpu")
    self._save(array.size)
    self.out.write(b"tQ")
    self._save(0)
    self._save(tuple(array.shape))
    self._save(tuple(strides))
    self._save(False)
    self._global("collections", "OrderedDict")
    self.out.write(b")R")
    self.out.write(b"tR")


def save_pth(path: str, obj: Any, top: str = "archive") -> None:
  """Writes `obj` (dicts, lists, tuples, scalars, str, numpy arrays) as a torch zip checkpoint.

  Atomic: the archive is written next to `path` and renamed into place.
  """
  writer = _PickleWriter()
  pickled = writer.dump(obj)
  buffer = std_io.BytesIO()
  with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
    archive.writestr(f"{top}/data.pkl", pickled)
    archive.writestr(f"{top}/byteorder", "little")
    for key, array in enumerate(writer.storages):
      archive.writestr(f"{top}/data/{key}", array.tobytes())
    archive.writestr(f"{top}/version", "3\n")
  io.atomic_write_bytes(path, buffer.getvalue())
