"""Every model config loads, builds the model it names, and takes overrides."""

import glob
import os

import pytest

from graco_jax import config_utils
from graco_jax.errors import InputError, MissingInputError
from graco_jax.model import SIZES

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "configs")


@pytest.mark.parametrize("family", ["graco", "simpleclick"])
@pytest.mark.parametrize("size", sorted(SIZES))
def test_model_configs_name_their_size(family, size):
  config = config_utils.load_config(os.path.join(CONFIGS, f"{family}.py:size={size}"))
  assert config.model.size == size
  assert config.model.embed_dim == SIZES[size][0] and config.model.depth == SIZES[size][1]
  assert tuple(config.model.crop_size) == (448, 448)
  assert config.model.use_granularity == (family == "graco")
  assert (config.model.lora.rank > 0) == (family == "graco")


def test_overrides_are_typed_and_unknown_keys_are_errors():
  path = os.path.join(CONFIGS, "graco.py:size=tiny,data=synthetic")
  config = config_utils.load_config(path, ["--config.model.depth=2",
                                           "--config.model.dtype=bfloat16"])
  assert config.model.depth == 2 and config.model.dtype == "bfloat16"
  with pytest.raises(InputError, match="config.model has no field 'nope'") as error:
    config_utils.load_config(path, ["--config.model.nope=1"])
  assert "depth" in error.value.hint  # the hint lists the fields there are
  with pytest.raises(MissingInputError, match="missing.py"):
    config_utils.load_config(os.path.join(CONFIGS, "missing.py"))


def test_overrides_of_nested_tuple_and_wrong_type_fields():
  path = os.path.join(CONFIGS, "graco.py:size=tiny,data=synthetic")
  config = config_utils.load_config(path, [
      "--config.model.crop_size=(224, 224)", "--config.model.lora.targets=q",
      "--config.model.lora.targets=k", "--config.optimizer.learning_rate=1e-3",
      "--config.model.use_granularity=false", "--config.train.batch_size=4"])
  assert config.model.crop_size == (224, 224)
  assert config.model.lora.targets == ("q", "k")  # one repeated flag per element
  assert config.optimizer.learning_rate == 0.001 and config.train.batch_size == 4
  assert config.model.use_granularity is False
  with pytest.raises(InputError, match=r"--config.train.batch_size=abc: invalid literal for int"):
    config_utils.load_config(path, ["--config.train.batch_size=abc"])
  with pytest.raises(InputError, match=r"--config.train.batch_size=2.5"):
    config_utils.load_config(path, ["--config.train.batch_size=2.5"])
  with pytest.raises(InputError, match="config.model.dtype is a str, it has no field 'x'"):
    config_utils.load_config(path, ["--config.model.dtype.x=1"])


def test_unset_fields_and_dataset_lists_take_overrides():
  agg = config_utils.load_config(os.path.join(CONFIGS, "agg_synthetic.py"),
                                 ["--config.agg.input_size=224"])
  assert agg.agg.input_size == 224 and agg.agg.predict_granularity is None
  with pytest.raises(InputError, match="agg.predict_granularity=high"):
    config_utils.load_config(os.path.join(CONFIGS, "agg_synthetic.py"),
                             ["--config.agg.predict_granularity=high"])
  ev = config_utils.load_config(os.path.join(CONFIGS, "eval_graco.py"),
                                ["--config.eval.datasets=('GrabCut', 'DAVIS')"])
  assert ev.eval.datasets == ("GrabCut", "DAVIS")


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(CONFIGS, "*.py"))))
def test_every_config_file_documents_its_command_and_builds_its_parts(path):
  """A config is the documentation of an experiment: its docstring gives the command that
  runs it, and what it configures is complete (a model of a known size, AGG or eval fields)."""
  with open(path, encoding="utf-8") as f:
    source = f.read()
  name = os.path.basename(path)
  assert f"configs/{name}" in source and "graco-jax " in source, name
  config = config_utils.load_config(path)
  assert {"model", "agg", "eval", "settings"} & set(config.keys()), name
  if "model" in config:
    assert config.model.size in SIZES and config.model.crop_size[0] % config.model.patch_size == 0
  if "eval" in config:
    assert config.eval.datasets and 0 < config.eval.pred_thr < 1
  if "agg" in config:
    assert 1 <= config.agg.min_iters <= config.agg.max_iters
