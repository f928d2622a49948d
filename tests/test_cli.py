"""The `graco-jax` console script: a user's mistake ends in one line and exit status 2, a crash
keeps its traceback and exits 1. Every case fails before a model is built (no compilation)."""

import os
import pickle
import subprocess
import sys
import zipfile

import jax
import pytest

import graco_jax
from graco_jax import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(ROOT, "configs", "graco.py") + ":size=tiny,data=synthetic"
SCRIPT = os.path.join(os.path.dirname(sys.executable), "graco-jax")


def graco_jax_cli(*argv, cwd, env=None):
  """Runs the installed console script (else `python -m graco_jax.cli`) on this checkout."""
  command = [SCRIPT] if os.path.exists(SCRIPT) else [sys.executable, "-m", "graco_jax.cli"]
  environment = {**os.environ, "PYTHONPATH": ROOT}
  environment.pop("GRACO_JAX_TRACEBACK", None)
  environment.update(env or {})
  return subprocess.run(command + list(argv), cwd=cwd, env=environment, capture_output=True,
                        text=True, timeout=120)


def assert_user_error(result, command, message):
  assert result.returncode == 2, result.stderr
  assert "Traceback" not in result.stderr
  first = result.stderr.splitlines()[0]
  assert first.startswith(f"graco-jax {command}: error: "), first
  assert message in first, first
  return result.stderr.splitlines()[1:]


def _evil_checkpoint(path, sentinel):
  """A torch-style zip whose pickle calls os.system('touch SENTINEL') when unpickled."""
  call = b"cos\nsystem\n(" + pickle.dumps(f"touch {sentinel}", protocol=2)[2:-1] + b"tR."
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr("archive/data.pkl", b"\x80\x02" + call)
    archive.writestr("archive/version", "3\n")


def test_unsafe_checkpoint_is_refused_in_one_line(tmp_path):
  _evil_checkpoint(tmp_path / "evil.pth", tmp_path / "pwned")
  result = graco_jax_cli("import", "--checkpoint", "evil.pth", "--out", "d", cwd=tmp_path)
  assert_user_error(result, "import", "evil.pth: refusing a checkpoint whose pickle names "
                    "os.system; none of it was executed")
  assert not (tmp_path / "pwned").exists() and not (tmp_path / "d").exists()


def test_segment_bad_image_and_click_outside(tmp_path):
  (tmp_path / "not_an_image.pth").write_bytes(b"\x00" * 64)
  result = graco_jax_cli("segment", "--config", TINY, "--image", "not_an_image.pth",
                         "--click", "5,5,+", "--out", "m.png", cwd=tmp_path)
  assert_user_error(result, "segment", "image file not_an_image.pth is not a readable image")
  # the generated test image is 320x480
  result = graco_jax_cli("segment", "--config", TINY, "--click", "5000,5,+", "--out", "m.png",
                         cwd=tmp_path)
  assert_user_error(result, "segment", "click (5000, 5) lies outside the 320x480 image")
  assert not (tmp_path / "m.png").exists()


@pytest.mark.parametrize("args,message,hint", [
    (["--config", "configs/nope.py"], "config file configs/nope.py does not exist", "configs/"),
    (["--config", TINY, "--config.train.nonexistent=3"],
     "config override --config.train.nonexistent=3: config.train has no field 'nonexistent'",
     "batch_size"),
    (["--config", TINY, "--config.train.batch_size=abc"],
     "bad config override: --config.train.batch_size=abc: invalid literal for int()",
     "parsed as the type of the field"),
])
def test_train_config_mistakes(tmp_path, args, message, hint):
  result = graco_jax_cli("train", *args, "--workdir", str(tmp_path / "w"), cwd=ROOT)
  rest = assert_user_error(result, "train", message)
  assert rest and rest[0].startswith("hint: ") and hint in rest[0]
  assert not (tmp_path / "w").exists()


def test_evaluate_missing_dataset_folder(tmp_path):
  result = graco_jax_cli("evaluate", "--config", "configs/eval_quick.py", "--workdir",
                         str(tmp_path / "e"), "--config.eval.paths.GrabCut=/nonexistent",
                         cwd=ROOT)
  assert_user_error(result, "evaluate", "GrabCut folder /nonexistent does not exist")
  assert not (tmp_path / "e").exists()


def test_quickstart_refuses_to_resume_with_other_settings(tmp_path):
  (tmp_path / "out").mkdir()
  (tmp_path / "out" / "settings.json").write_text('{"seed": -1}')
  result = graco_jax_cli("quickstart", "--out", "out", cwd=tmp_path)
  assert_user_error(result, "quickstart", "out holds a quickstart run with other settings")
  assert os.listdir(tmp_path / "out") == ["settings.json"]


def test_traceback_flag_and_variable_show_the_user_error_in_full(tmp_path):
  for extra, env in [(["--traceback"], None), ([], {"GRACO_JAX_TRACEBACK": "1"})]:
    result = graco_jax_cli("train", "--config", "configs/nope.py", "--workdir", "w", *extra,
                           cwd=ROOT, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert "graco_jax.errors.MissingInputError: config file configs/nope.py" in result.stderr
    assert "graco-jax train: error: config file configs/nope.py does not exist" in result.stderr


def test_a_crash_keeps_its_traceback_and_exits_1(tmp_path):
  (tmp_path / "broken.py").write_text("def get_config(arg=None):\n  return 1 / 0\n")
  result = graco_jax_cli("train", "--config", "broken.py", "--workdir", "w", cwd=tmp_path)
  assert result.returncode == 1
  assert result.stderr.startswith("Traceback (most recent call last):")
  assert result.stderr.splitlines()[-1] == "ZeroDivisionError: division by zero"
  assert "error:" not in result.stderr


def test_version(tmp_path):
  result = graco_jax_cli("--version", cwd=tmp_path)
  assert result.returncode == 0
  assert result.stdout.strip() == f"graco-jax {graco_jax.__version__}"
  packaged = subprocess.run([sys.executable, "setup.py", "--version"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
  assert packaged.stdout.split()[-1] == graco_jax.__version__


@pytest.fixture
def restore_cache_dir():
  before = jax.config.jax_compilation_cache_dir
  yield
  jax.config.update("jax_compilation_cache_dir", before)


@pytest.mark.parametrize("env, expected", [
    ({"XDG_CACHE_HOME": "/x/cache"}, "/x/cache/graco-jax/xla"),
    ({"HOME": "/home/u"}, "/home/u/.cache/graco-jax/xla"),
    ({"GRACO_JAX_XLA_CACHE": "/elsewhere", "XDG_CACHE_HOME": "/x"}, "/elsewhere"),
    ({"GRACO_JAX_XLA_CACHE": "off"}, None),
    ({"JAX_COMPILATION_CACHE_DIR": "/jax/own"}, None),
])
def test_compilation_cache_folder(monkeypatch, restore_cache_dir, env, expected):
  for name in ("GRACO_JAX_XLA_CACHE", "XDG_CACHE_HOME", "JAX_COMPILATION_CACHE_DIR"):
    monkeypatch.delenv(name, raising=False)
  for name, value in env.items():
    monkeypatch.setenv(name, value)
  jax.config.update("jax_compilation_cache_dir", None)
  cli._enable_compilation_cache()
  assert jax.config.jax_compilation_cache_dir == expected
