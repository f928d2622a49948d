"""`graco_jax.export.load`: runs without graco-jax's model code; bad artifacts get clear errors."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from graco_jax.errors import ArtifactError, InputError, MissingInputError
from graco_jax.export import load
from graco_jax.export.build import export_predictor, write_export

sys.path.insert(0, os.path.dirname(__file__))
from export_toys import CAPACITY, CROP, random_inputs

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Runs in a fresh interpreter where graco_jax.model, flax and the rest of graco-jax's model
# stack cannot be imported: the user's script of the README, jax and the loader only.
USER_SCRIPT = textwrap.dedent("""
    import sys

    BLOCKED = ("graco_jax.model", "graco_jax.interaction", "graco_jax.predictor",
               "graco_jax.export.build", "flax", "orbax", "ml_collections")

    class Block:
      def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
          raise ImportError(f"{name} is blocked in this test")

    sys.meta_path.insert(0, Block())
    import numpy as np
    import jax
    from graco_jax.export import load

    artifact, inputs_path, out_path = sys.argv[1:]
    predict = load(artifact)
    inputs = dict(np.load(inputs_path))
    np.save(out_path, np.asarray(predict(**inputs)))
    leaked = [m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED)]
    assert not leaked, leaked
""")


def test_user_script_without_model_code_gets_the_same_probabilities(exports, tmp_path):
  inputs = random_inputs(2, seed=3)
  np.savez(tmp_path / "inputs.npz", **inputs)
  script = tmp_path / "user.py"
  script.write_text(USER_SCRIPT)
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [REPO_ROOT, *filter(None, [os.environ.get("PYTHONPATH")])]))
  proc = subprocess.run([sys.executable, str(script), exports["input"],
                         str(tmp_path / "inputs.npz"), str(tmp_path / "out.npy")],
                        capture_output=True, text=True, env=env, timeout=300)
  assert proc.returncode == 0, proc.stderr[-4000:]
  got = np.load(tmp_path / "out.npy")
  np.testing.assert_array_equal(got, np.asarray(load(exports["input"])(**inputs)))
  assert got.shape == (2, CROP, CROP, 1) and got.std() > 1e-4


def test_the_block_in_the_user_script_really_blocks(tmp_path):
  script = tmp_path / "blocked.py"
  script.write_text(USER_SCRIPT.split("import numpy")[0] + "import graco_jax.model\n")
  proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                        env=dict(os.environ), timeout=120)
  assert proc.returncode != 0 and "graco_jax.model is blocked" in proc.stderr


def _copy(exports, variant, folder):
  path = str(folder / f"{variant}.jaxexport")
  shutil.copy(exports[variant], path)
  shutil.copy(exports[variant] + ".json", path + ".json")
  return path


def _edit_meta(path, **changes):
  with open(path + ".json", encoding="utf-8") as f:
    meta = json.load(f)
  meta.update(changes)
  with open(path + ".json", "w", encoding="utf-8") as f:
    json.dump(meta, f)


def test_truncated_artifact_is_refused(exports, tmp_path):
  path = _copy(exports, "input", tmp_path)
  with open(path, "rb") as f:
    blob = f.read()
  with open(path, "wb") as f:
    f.write(blob[: len(blob) // 2])
  with pytest.raises(ArtifactError, match="truncated or modified"):
    load(path)
  # Even with a sidecar that vouches for the truncated bytes, the parse error is reported.
  _edit_meta(path, artifact_sha256=hashlib.sha256(blob[: len(blob) // 2]).hexdigest())
  with pytest.raises(ArtifactError, match="not a readable jax.export artifact"):
    load(path)


def test_sidecar_of_another_export_is_refused(exports, tmp_path):
  path = _copy(exports, "input", tmp_path)
  shutil.copy(exports["all"] + ".json", path + ".json")
  with pytest.raises(ArtifactError, match="belongs to another export"):
    load(path)
  # A sidecar edited to match the hash but not the artifact's inputs.
  (tmp_path / "edited").mkdir()
  path = _copy(exports, "input", tmp_path / "edited")
  with open(path + ".json", encoding="utf-8") as f:
    inputs = json.load(f)["inputs"]
  inputs[0]["shape"] = ["batch", 64, 64, 3]
  _edit_meta(path, inputs=inputs)
  with pytest.raises(ArtifactError, match="does not describe"):
    load(path)


def test_unreadable_missing_or_foreign_sidecar(exports, tmp_path):
  path = _copy(exports, "none", tmp_path)
  with open(path + ".json", "w") as f:
    f.write('{"format": ')
  with pytest.raises(ArtifactError, match="unreadable JSON"):
    load(path)
  _copy(exports, "none", tmp_path)
  _edit_meta(path, format="something-else/2")
  with pytest.raises(ArtifactError, match="format 'something-else/2'"):
    load(path)
  os.remove(path + ".json")
  with pytest.raises(MissingInputError, match="none.jaxexport.json: no such file"):
    load(path)


def test_platform_not_in_the_artifact_is_refused(graco_model, tmp_path):
  config, variables = graco_model
  exported, meta = export_predictor(config, variables, capacity=CAPACITY, platforms=("cuda",))
  path = str(tmp_path / "cuda_only.jaxexport")
  write_export(path, exported, meta)
  with pytest.raises(ArtifactError, match="exported for cuda, not for cpu.*--platforms cpu"):
    load(path)
  assert issubclass(ArtifactError, InputError)


def test_wrong_inputs_are_named(exports):
  predict = load(exports["input"])
  inputs = random_inputs(2)
  with pytest.raises(ArtifactError, match=r"'image' has shape \(2, 64, 64, 3\)"):
    predict(**dict(inputs, image=np.zeros((2, 64, 64, 3))))
  with pytest.raises(ArtifactError, match=r"'coords' has shape \(3, 6, 2\).*'batch': 2"):
    predict(**dict(inputs, coords=np.zeros((3, CAPACITY, 2))))
  with pytest.raises(ArtifactError, match=r"missing inputs \['granularity'\]"):
    predict(**{k: v for k, v in inputs.items() if k != "granularity"})
  with pytest.raises(ArtifactError, match="unexpected or repeated input 'granularity'.*'all'"):
    load(exports["all"])(**inputs)
