"""Shared fixtures. One quickstart run is shared by test_quickstart.py and test_notebooks.py.

By default it is the quickstart recipe at smoke scale (every stage, a few steps, about a minute),
which keeps CI within 20 minutes on the slow 2-core box; `--full-quickstart` runs the README's
main command with its default settings instead (about 8 minutes on a fast 2-core box, 25 on a
slow one) and lets test_quickstart.py assert the paper's claims on its table.

Under pytest-xdist every worker has its own session, so the run is coordinated through a lock
file in the directory all workers share: the first worker runs it, the others wait and reuse it.
"""

import fcntl
import os
import subprocess
import sys

import pytest

# Every stage at the smallest sizes that still give every output (proposals, 8 objects and 8
# parts per model, 5 clicks); the settings are options of the recipe's argument.
SMOKE_RECIPE = ("configs/quickstart.py:pretrain_steps=40,gcl_steps=20,parts_ft_steps=20,"
                "train_images=48,agg_images=16,val_images=8,eval_objects=8,eval_parts=8,"
                "max_clicks=5")


def pytest_addoption(parser):
  parser.addoption("--full-quickstart", action="store_true",
                   help="run the quickstart with its default settings and assert the claims")


@pytest.fixture(scope="session")
def full_quickstart(request):
  return request.config.getoption("--full-quickstart")


@pytest.fixture(scope="session")
def quickstart_runner(full_quickstart):
  """`run(out_dir, *extra_args)`: `graco-jax quickstart` in a subprocess (its own JAX config)
  with the session's settings; returns the process."""
  recipe = () if full_quickstart else ("--config", SMOKE_RECIPE)

  def run(out_dir, *extra):
    cmd = [sys.executable, "-m", "graco_jax.cli", "quickstart", "--out", str(out_dir),
           "--no-progress", *recipe, *extra]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3000)

  return run


@pytest.fixture(scope="session")
def quickstart_out(tmp_path_factory, quickstart_runner, full_quickstart):
  # Under xdist each worker's basetemp is a child of the session's; alone, use our own.
  shared = tmp_path_factory.getbasetemp()
  if os.environ.get("PYTEST_XDIST_WORKER"):
    shared = shared.parent
  name = "quickstart_default" if full_quickstart else "quickstart_smoke"
  out = shared / name
  with open(shared / f"{name}.lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
      if not (out / "results.json").exists():
        proc = quickstart_runner(out)
        if proc.returncode != 0:
          raise RuntimeError(f"quickstart failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-8000:]}")
        (shared / f"{name}.log").write_text(proc.stdout + proc.stderr)
    finally:
      fcntl.flock(lock, fcntl.LOCK_UN)
  return out
