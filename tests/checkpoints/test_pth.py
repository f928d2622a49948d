"""The torch-free .pth reader and writer: values, layouts, and refusal of malicious pickles."""

import collections
import pickle
import pickletools
import struct
import zipfile

import ml_dtypes
import numpy as np
import pytest

from graco_jax.checkpoints.pth import InertGlobal, UnsafeCheckpointError, load_pth, save_pth


def _zip(path, pickled, storages=(), top="last_checkpoint"):
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr(f"{top}/data.pkl", pickled)
    for key, data in storages:
      archive.writestr(f"{top}/data/{key}", data)
    archive.writestr(f"{top}/version", "3\n")


def _tensor_pickle(key, numel, offset, size, stride, extra=b""):
  """Protocol-2 opcodes of {'w': _rebuild_tensor_v2(storage key, offset, size, stride)}."""
  def tup(values):
    return b"(" + b"".join(b"J" + struct.pack("<i", v) for v in values) + b"t"
  def text(s):
    return b"X" + struct.pack("<I", len(s)) + s.encode()
  return (b"\x80\x02}(" + text("w") + b"ctorch._utils\n_rebuild_tensor_v2\n("
          + b"(" + text("storage") + b"ctorch\nFloatStorage\n" + text(key) + text("cpu")
          + b"J" + struct.pack("<i", numel) + b"tQ"
          + b"J" + struct.pack("<i", offset) + tup(size) + tup(stride)
          + b"\x89ccollections\nOrderedDict\n)RtR" + extra + b"u.")


def test_strided_tensor_rebuilt_from_raw_storage(tmp_path):
  storage = np.arange(20, dtype="<f4")
  path = tmp_path / "t.pth"
  # a transposed view with an offset: rows of 3 from element 2, column stride 4
  _zip(path, _tensor_pickle("0", 20, 2, (4, 3), (1, 4)), [("0", storage.tobytes())])
  w = load_pth(str(path))["w"]
  np.testing.assert_array_equal(w, storage[2 + np.arange(4)[:, None] + 4 * np.arange(3)])
  assert w.flags.c_contiguous and w.dtype == np.float32


def test_tensor_overrunning_its_storage_is_refused(tmp_path):
  path = tmp_path / "bad.pth"
  _zip(path, _tensor_pickle("0", 4, 2, (3,), (1,)), [("0", np.zeros(4, "<f4").tobytes())])
  with pytest.raises(ValueError, match="bad.pth.*overruns"):
    load_pth(str(path))


@pytest.mark.parametrize("module,name", [("os", "system"), ("posix", "system"),
                                         ("subprocess", "check_call"), ("builtins", "eval")])
def test_malicious_global_executes_nothing(tmp_path, module, name):
  sentinel = tmp_path / "pwned"
  command = f"touch {sentinel}" if name != "eval" else f"open({str(sentinel)!r}, 'w')"
  arg = command if name != "check_call" else ["touch", str(sentinel)]
  payload = pickle.dumps(arg, protocol=2)[2:-1]  # the argument's opcodes, without PROTO/STOP
  call = f"c{module}\n{name}\n".encode() + b"(" + payload + b"tR"
  # the tensor still sits next to the call, under key 'w'
  pickled = _tensor_pickle("0", 4, 0, (4,), (1,), extra=b"X\x03\x00\x00\x00cmd" + call)
  path = tmp_path / "evil.pth"
  _zip(path, pickled, [("0", np.arange(4, dtype="<f4").tobytes())])
  with pytest.raises(UnsafeCheckpointError, match=rf"evil\.pth.*{module}\.{name}"):
    load_pth(str(path))
  assert not sentinel.exists()
  # read anyway: tensors load, the call is an inert record, still nothing ran
  obj = load_pth(str(path), allow_unknown_globals=True)
  np.testing.assert_array_equal(obj["w"], np.arange(4, dtype=np.float32))
  assert isinstance(obj["cmd"], InertGlobal) and obj["cmd"].name == name
  assert not sentinel.exists()


def test_reference_file_globals_are_inert(tmp_path):
  obj = load_pth("/work/shared/reference/GraCo_base_lora.pth")
  loss = obj["config"]["params"]["head_params"]["value"]["loss_decode"]
  assert isinstance(loss, InertGlobal) and loss.name == "CrossEntropyLoss"
  assert loss.state["cls_criterion"].__name__.endswith("cross_entropy")
  assert loss.state["_non_persistent_buffers_set"] == set()


def test_roundtrip_every_dtype_and_container(tmp_path):
  state = collections.OrderedDict(
      f32=np.random.default_rng(0).normal(size=(3, 5)).astype(np.float32),
      f16=np.arange(6, dtype=np.float16).reshape(2, 3), f64=np.linspace(0, 1, 7),
      bf16=np.arange(4).astype(ml_dtypes.bfloat16), i64=np.arange(-3, 3),
      i32=np.arange(3, dtype=np.int32), u8=np.arange(5, dtype=np.uint8),
      b=np.array([True, False]), scalar=np.array(2.5, np.float32),
      empty=np.zeros((0, 4), np.float32),
      transposed=np.arange(12, dtype=np.float32).reshape(3, 4).T)
  config = {"class": "x.Y", "params": {"a": [1, 2**40, -7, 0.25, None, True, "é", (1, (2, 3))],
                                       "nested": {}, "empty": []}}
  path = tmp_path / "out.pth"
  save_pth(str(path), {"state_dict": state, "config": config})
  with zipfile.ZipFile(path) as archive:
    assert archive.read("archive/version") == b"3\n"
    # the pickle names only globals torch.load(weights_only=True) accepts
    ops = [arg for op, arg, _ in pickletools.genops(archive.read("archive/data.pkl"))
           if op.name == "GLOBAL"]
  assert set(ops) <= {"torch._utils _rebuild_tensor_v2", "collections OrderedDict",
                      "torch FloatStorage", "torch HalfStorage", "torch DoubleStorage",
                      "torch BFloat16Storage", "torch LongStorage", "torch IntStorage",
                      "torch ByteStorage", "torch BoolStorage"}
  loaded = load_pth(str(path))
  assert loaded["config"] == config
  assert isinstance(loaded["state_dict"], collections.OrderedDict)
  assert list(loaded["state_dict"]) == list(state)
  for name, value in state.items():
    assert loaded["state_dict"][name].dtype == value.dtype, name
    np.testing.assert_array_equal(loaded["state_dict"][name], value)


def test_not_a_checkpoint_names_the_file(tmp_path):
  path = tmp_path / "notes.pth"
  path.write_bytes(b"plain text")
  with pytest.raises(ValueError, match="notes.pth.*zip"):
    load_pth(str(path))
  empty = tmp_path / "empty.pth"
  with zipfile.ZipFile(empty, "w") as archive:
    archive.writestr("x/y", b"")
  with pytest.raises(ValueError, match="empty.pth.*data.pkl"):
    load_pth(str(empty))


def test_written_file_loads_in_torch_with_weights_only(tmp_path):
  torch = pytest.importorskip("torch")
  state = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": np.arange(3)}
  save_pth(str(tmp_path / "t.pth"), {"state_dict": collections.OrderedDict(state),
                                     "config": {"k": (1, [2.0])}})
  loaded = torch.load(tmp_path / "t.pth", weights_only=True)
  assert loaded["config"] == {"k": (1, [2.0])}
  np.testing.assert_array_equal(loaded["state_dict"]["w"].numpy(), state["w"])
  assert loaded["state_dict"]["n"].dtype == torch.int64

