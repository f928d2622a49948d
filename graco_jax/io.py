"""The one path layer for every file graco-jax reads or writes (configs excepted).

Paths are strings: local paths, `gs://bucket/...` and `s3://bucket/...` (and any other URI that
`etils.epath` knows), the same strings orbax checkpoints take. Everything goes through
`etils.epath`, which hands URIs to fsspec (gcsfs / s3fs) or TensorFlow's gfile, whichever is
installed: a workdir on GCS needs `pip install gcsfs` (plus google-cloud-storage, which orbax
asks for the bucket layout), on S3 `pip install s3fs`.

Writes are atomic where the filesystem allows it: locally a temporary file in the same folder
renamed over the target; on object stores a single put, which readers see whole or not at all.
"""

import os
import tempfile

from etils import epath


def is_local(path) -> bool:
  return "://" not in str(path)


def join(*parts) -> str:
  return str(epath.Path(*parts)) if not is_local(parts[0]) else os.path.join(*parts)


def abspath(path) -> str:
  """Absolute local path; URIs unchanged (they are absolute already)."""
  return os.path.abspath(path) if is_local(path) else str(path)


def dirname(path) -> str:
  return str(epath.Path(path).parent) if not is_local(path) else os.path.dirname(path)


def exists(path) -> bool:
  return epath.Path(path).exists()


def isdir(path) -> bool:
  return epath.Path(path).is_dir()


def isfile(path) -> bool:
  return exists(path) and not isdir(path)


def makedirs(path) -> None:
  epath.Path(path).mkdir(parents=True, exist_ok=True)


def listdir(path) -> list:
  """Sorted entry names of a folder."""
  return sorted(p.name for p in epath.Path(path).iterdir())


def glob(folder, pattern: str) -> list:
  """Sorted paths in `folder` matching `pattern` (e.g. 'chunk-*.jsonl'), as strings."""
  return sorted(str(p) for p in epath.Path(folder).glob(pattern))


def open_file(path, mode: str = "rb"):
  """A file object for streaming reads (zip archives, .mat files, images); write with the
  atomic writers below instead."""
  return epath.Path(path).open(mode)


def read_bytes(path) -> bytes:
  return epath.Path(path).read_bytes()


def read_text(path) -> str:
  return epath.Path(path).read_text(encoding="utf-8")


def atomic_write_bytes(path, data: bytes) -> None:
  """Writes `data` to `path` so that readers see the old file or the new one, never half."""
  if not is_local(path):
    makedirs(dirname(path))  # a no-op on object stores, needed by other URI filesystems
    epath.Path(path).write_bytes(data)  # one put: object stores publish it whole
    return
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file ordinary permissions
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def atomic_write_text(path, text: str) -> None:
  atomic_write_bytes(path, text.encode("utf-8"))


def append_text(path, text: str) -> None:
  """Appends to a small log file (metrics.csv). Object stores cannot append: the file is read
  and rewritten in one put, fine for a log written once per log interval."""
  if is_local(path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a", encoding="utf-8", newline="") as f:
      f.write(text)
    return
  old = read_text(path) if exists(path) else ""
  atomic_write_text(path, old + text)


def write_npz(path, arrays: dict) -> None:
  """numpy's .npz of `arrays`, atomically."""
  import io as std_io
  import numpy as np
  buffer = std_io.BytesIO()
  np.savez(buffer, **arrays)
  atomic_write_bytes(path, buffer.getvalue())


def write_figure(path, fig, dpi: int = 100) -> None:
  """A matplotlib figure as PNG, atomically; closes the figure."""
  import io as std_io
  import matplotlib.pyplot as plt
  buffer = std_io.BytesIO()
  fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
  plt.close(fig)
  atomic_write_bytes(path, buffer.getvalue())
