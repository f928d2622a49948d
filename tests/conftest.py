"""Shared fixtures. One quickstart run (the README's main command, default settings) is shared
by test_quickstart.py and test_notebooks.py.

Under pytest-xdist every worker has its own session, so the run is coordinated through a lock
file in the directory all workers share: the first worker runs it, the others wait and reuse it.
"""

import fcntl
import os
import subprocess
import sys

import pytest

QUICKSTART_ARGS = ("--no-progress",)


def run_quickstart(out_dir, *extra):
  """Runs `graco-jax quickstart` in a subprocess (its own JAX config); returns the process."""
  cmd = [sys.executable, "-m", "graco_jax.cli", "quickstart", "--out", str(out_dir),
         *QUICKSTART_ARGS, *extra]
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1500)


@pytest.fixture(scope="session")
def quickstart_out(tmp_path_factory):
  # Under xdist each worker's basetemp is a child of the session's; alone, use our own.
  shared = tmp_path_factory.getbasetemp()
  if os.environ.get("PYTEST_XDIST_WORKER"):
    shared = shared.parent
  out = shared / "quickstart_default"
  with open(shared / "quickstart_default.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
      if not (out / "results.json").exists():
        proc = run_quickstart(out)
        if proc.returncode != 0:
          raise RuntimeError(f"quickstart failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-8000:]}")
        (shared / "quickstart_default.log").write_text(proc.stdout + proc.stderr)
    finally:
      fcntl.flock(lock, fcntl.LOCK_UN)
  return out


@pytest.fixture(scope="session")
def quickstart_runner():
  """`run_quickstart(out_dir, *extra_args)` for tests that run the command again."""
  return run_quickstart
