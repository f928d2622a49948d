"""Every model config loads, builds the model it names, and takes overrides."""

import glob
import os

import pytest

from graco_jax import config_utils
from graco_jax.model import SIZES

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "configs")


@pytest.mark.parametrize("family", ["graco", "simpleclick"])
@pytest.mark.parametrize("size", sorted(SIZES))
def test_model_configs_name_their_size(family, size):
  config = config_utils.load_config(os.path.join(CONFIGS, f"{family}_vit_{size}448.py"))
  assert config.model.size == size
  assert tuple(config.model.crop_size) == (448, 448)
  assert config.model.use_granularity == (family == "graco")
  assert (config.model.lora.rank > 0) == (family == "graco")


def test_overrides_are_typed_and_unknown_keys_are_errors():
  path = os.path.join(CONFIGS, "graco_vit_tiny448.py")
  config = config_utils.load_config(path, ["--config.model.depth=2", "model.dtype=bfloat16"])
  assert config.model.depth == 2 and config.model.dtype == "bfloat16"
  with pytest.raises(KeyError, match="no field 'nope'"):
    config_utils.load_config(path, ["model.nope=1"])
  with pytest.raises(FileNotFoundError, match="missing.py"):
    config_utils.load_config(os.path.join(CONFIGS, "missing.py"))


def test_every_config_file_loads():
  for path in sorted(glob.glob(os.path.join(CONFIGS, "*.py"))):
    assert config_utils.load_config(path) is not None, path
