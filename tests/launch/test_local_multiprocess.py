"""Two real processes (2 x 4 CPU devices, jax.distributed over gloo) against one (8 devices):
train, generate and evaluate through launch/local_multiprocess.sh, and shellcheck on the
launch scripts."""

import csv
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from graco_jax import checkpoints
from graco_jax.data import proposal_store as store
from graco_jax.training import optim

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LAUNCH = os.path.join(ROOT, "launch")
SCRIPT = os.path.join(LAUNCH, "local_multiprocess.sh")


def _env(tmp_path):
  return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
              PYTHON=sys.executable, GRACO_JAX=f"{sys.executable} -m graco_jax.cli",
              JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax_cache"),
              JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0")


def _run(args, env, **extra):
  out = subprocess.run(["bash", SCRIPT, *args], env=dict(env, **extra), capture_output=True,
                       text=True, timeout=900, cwd=ROOT)
  assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
  return out.stdout


def _one_process(args, env):
  out = subprocess.run([sys.executable, "-m", "graco_jax.cli", *args], capture_output=True,
                       text=True, timeout=900, cwd=ROOT, env=dict(
                           env, XLA_FLAGS="--xla_force_host_platform_device_count=8",
                           JAX_PLATFORMS="cpu"))
  assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
  return out.stdout


def _losses(workdir):
  with open(os.path.join(workdir, "metrics.csv"), encoding="utf-8") as f:
    return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f)}


def _params(workdir):
  return optim.flatten(checkpoints.restore_params(workdir))


def _grabcut(root):
  os.makedirs(root / "data_GT")
  os.makedirs(root / "boundary_GT")
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[:40, :48]
  for i in range(10):  # 10 instances: the last of two 8-device batches is padding
    mask = ((yy - 20) ** 2 + (xx - 12 - 2 * i) ** 2 < 60 + 8 * i).astype(np.uint8) * 255
    image = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
    image[mask > 0] //= 3
    Image.fromarray(image).save(root / "data_GT" / f"im{i}.png")
    Image.fromarray(mask).save(root / "boundary_GT" / f"im{i}.bmp")


@pytest.mark.slow
def test_two_processes_train_generate_and_evaluate_like_one(tmp_path):
  env = _env(tmp_path)
  smoke = tmp_path / "smoke"
  # Training: the script's own smoke test (1 x 8 devices, 2 x 4, 2 x 4 preempted and resumed).
  report = _run([], env, SMOKE_DIR=str(smoke))
  assert "OK: the runs agree" in report
  one, two, resumed = (str(smoke / n) for n in ("one", "two", "preempted"))
  ref_losses, two_losses = _losses(one), _losses(two)
  assert sorted(ref_losses) == sorted(two_losses) == list(range(1, 9))
  np.testing.assert_allclose([two_losses[s] for s in ref_losses], list(ref_losses.values()),
                             rtol=1e-5, atol=2e-4)  # the 8-vs-1-device step test's tolerance
  ref_params, two_params, resumed_params = _params(one), _params(two), _params(resumed)
  for k in ref_params:
    np.testing.assert_allclose(two_params[k], ref_params[k], rtol=1e-5, atol=2e-4)
    np.testing.assert_array_equal(resumed_params[k], two_params[k])
  with open(smoke / "preempted_logs" / "process_0.log", encoding="utf-8") as f:
    first = json.loads(f.read().splitlines()[-1])
  assert first["preempted"] and 4 < first["step"] < 8  # SIGTERM at 4, stopped together later
  assert checkpoints.latest_step(resumed) == 8

  # Generation: one store from 2 processes equals the 1-process store; the 2-process run is
  # stopped after its first batch (--limit 8) and relaunched (--limit 16).
  agg = ["generate", "--config", "configs/agg_synthetic.py", "--checkpoint", one,
         "--no-progress", "--config.data.num_images=4", "--config.data.image_size=(64, 64)",
         "--config.agg.batch_size=8", "--config.agg.max_iters=3"]
  _one_process(agg + ["--out", str(tmp_path / "store1"), "--limit", "16"], env)
  _run(agg + ["--out", str(tmp_path / "store2"), "--limit", "8"], env)
  assert len(store.read_done(str(tmp_path / "store2"))) == 8
  _run(agg + ["--out", str(tmp_path / "store2"), "--limit", "16"], env)
  want, got = (store.read_proposals(str(tmp_path / s)) for s in ("store1", "store2"))
  assert len(want) > 8 and got == want
  assert store.read_done(str(tmp_path / "store2")) == store.read_done(str(tmp_path / "store1"))
  hosts = {int(os.path.basename(p)[7:11]) for p in store.chunk_files(str(tmp_path / "store2"))}
  assert hosts == {0, 1}  # both hosts wrote their rows

  # Evaluation: NoC over 8 global devices from 2 processes equals 1 process; process 0 writes.
  _grabcut(tmp_path / "grabcut")
  # A random-init GraCo model: its masks are not empty, unlike the 8-step one's.
  ev = ["evaluate", "--config", "configs/eval_quick.py", "--config.model.crop_size=(64, 64)",
        "--config.model.window_size=64", "--config.eval.pred_thr=0.45",
        f"--config.eval.paths.GrabCut={tmp_path / 'grabcut'}", "--config.eval.target_size=64",
        "--config.eval.min_crop_size=16", "--config.eval.max_clicks=3",
        "--config.eval.with_flip=False", "--config.eval.bucket_multiple=48",
        "--config.eval.batch_size=8", "--config.eval.method_name=tiny"]
  _one_process(ev + ["--workdir", str(tmp_path / "eval1")], env)
  _run(ev + ["--workdir", str(tmp_path / "eval2")], env, LOG_DIR=str(tmp_path / "eval2_logs"))
  results = [json.loads((tmp_path / d / "results.json").read_text())["datasets"]["GrabCut"]
             for d in ("eval1", "eval2")]
  for key in ("noc@85", "noc@90", "iou@1", "num_instances"):
    assert results[0][key] == results[1][key], key
  ious = [np.load(tmp_path / d / "instances_GrabCut.npz")["ious"] for d in ("eval1", "eval2")]
  assert ious[0].max() > 0.1  # a comparison of something
  np.testing.assert_array_equal(ious[1], ious[0])
  assert "wrote" in (tmp_path / "eval2_logs" / "process_0.log").read_text()
  assert "wrote" not in (tmp_path / "eval2_logs" / "process_1.log").read_text()
  print(f"NoC@85 1 process {results[0]['noc@85']}, 2 processes {results[1]['noc@85']}")


def test_launch_scripts_pass_shellcheck():
  if shutil.which("shellcheck") is None:
    pytest.skip("shellcheck is not installed (apt-get install shellcheck; .ci/run does)")
  scripts = sorted(os.path.join(LAUNCH, f) for f in os.listdir(LAUNCH) if f.endswith(".sh"))
  out = subprocess.run(["shellcheck", "--shell=bash", *scripts], capture_output=True, text=True)
  assert out.returncode == 0, out.stdout
