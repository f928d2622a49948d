import os

import pytest

from graco_jax.config_utils import load_config
from graco_jax.training.defaults import parse_arg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_parse_arg_variant_and_options():
  defaults = {"variant": "agg", "lora": True, "rank": 8}
  assert parse_arg(None, defaults) == defaults
  assert parse_arg("gt+agg,lora=False,rank=16", defaults) == {
      "variant": "gt+agg", "lora": False, "rank": 16}
  with pytest.raises(ValueError, match="unknown option"):
    parse_arg("agg,rnak=4", defaults)


@pytest.mark.parametrize("family", ["graco", "simpleclick"])
@pytest.mark.parametrize("data", ["real", "synthetic", "cpu"])
def test_family_configs_carry_the_training_recipe_of_their_data_mode(family, data):
  config = load_config(os.path.join(ROOT, "configs", f"{family}.py:size=tiny,data={data}"))
  assert config.model.crop_size[0] % config.model.window_size == 0
  assert config.model.crop_size == ((128, 128) if data == "cpu" else (448, 448))
  assert config.optimizer.mode == ("gcl" if family == "graco" else "full")
  assert config.model.use_granularity == (family == "graco")
  if data == "real":  # the official recipe
    assert config.train.max_num_next_clicks == 3 and config.train.max_num_points == 24
    assert config.optimizer.learning_rate == 5e-5 and config.train.batch_size == 32
    assert config.data.source == ("gcl" if family == "graco" else "sbd")
  else:
    assert config.data.source.startswith("synthetic")
    assert config.train.compute_dtype == "float32" and config.train.batch_size == 8
  if data == "cpu":
    assert config.train.num_steps == 300 and config.optimizer.schedule == "constant"


def test_unknown_data_mode_is_an_error():
  with pytest.raises(ValueError, match="data='tpu'"):
    load_config(os.path.join(ROOT, "configs", "graco.py:data=tpu"))


def test_graco_table_rows_and_ablations():
  path = os.path.join(ROOT, "configs", "graco.py")
  assert load_config(path).model.size == "base"
  assert load_config(path + ":agg,size=large").model.embed_dim == 1024
  assert load_config(path + ":gt").data.parts == ("gt", "objects")
  assert load_config(path + ":gt+agg,objects=False").data.parts == ("gt", "agg")
  no_lora = load_config(path + ":gt,lora=False")
  assert no_lora.optimizer.mode == "full" and no_lora.model.lora.rank == 0
  assert not load_config(path + ":agg,gra_embed=False").model.use_granularity
  assert load_config(path + ":agg,rank=32").model.lora.rank == 32
  with pytest.raises(ValueError, match="variant"):
    load_config(path + ":parts")
