import glob
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


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(ROOT, "configs", "*_vit_*.py"))))
def test_every_config_loads_with_and_without_training_fields(path):
  config = load_config(path)
  assert config.model.crop_size[0] % config.model.window_size == 0
  assert config.train.max_num_next_clicks == 3 and config.optimizer.learning_rate > 0
  if "graco" in os.path.basename(path):
    assert config.optimizer.mode == "gcl" and config.model.use_granularity


def test_graco_table_rows_and_ablations():
  path = os.path.join(ROOT, "configs", "graco_vit_base448.py")
  assert load_config(path + ":gt").data.parts == ("gt", "objects")
  assert load_config(path + ":gt+agg,objects=False").data.parts == ("gt", "agg")
  no_lora = load_config(path + ":gt,lora=False")
  assert no_lora.optimizer.mode == "full" and no_lora.model.lora.rank == 0
  assert not load_config(path + ":agg,gra_embed=False").model.use_granularity
  assert load_config(path + ":agg,rank=32").model.lora.rank == 32
  with pytest.raises(ValueError, match="variant"):
    load_config(path + ":parts")
