"""Parameter counts of every size equal the official models' (tensors the forward uses)."""

import jax
import pytest
from flax import traverse_util

from graco_jax.model import create_model, dummy_inputs, model_config, param_count

# (total, LoRA, granularity embedding) for GraCo-LoRA; total for plain SimpleClick.
OFFICIAL = {
    "base": (97_370_561, 294_912, 7_680, 97_067_969),
    "large": (323_788_481, 786_432, 10_240, 322_991_809),
    "huge": (662_036_721, 1_310_720, 12_800, 660_713_201),
}


def _shapes(config):
  return jax.eval_shape(create_model(config).init, jax.random.PRNGKey(0), **dummy_inputs(config))


@pytest.mark.parametrize("size", sorted(OFFICIAL))
def test_param_counts_match_official(size):
  total, lora, gra, plain = OFFICIAL[size]
  shapes = _shapes(model_config(size, granularity=True, lora_rank=8))
  flat = traverse_util.flatten_dict(shapes)
  assert param_count(shapes) == total
  assert sum(v.size for k, v in flat.items() if "lora" in k) == lora
  assert sum(v.size for k, v in flat.items() if "gra_embed" in k) == gra
  assert param_count(_shapes(model_config(size, granularity=False, lora_rank=0))) == plain


@pytest.mark.parametrize("size,height,width", [("base", 448, 448), ("huge", 448, 448),
                                               ("large", 672, 448)])
def test_output_shape_of_every_size(size, height, width):
  config = model_config(size)
  model = create_model(config)
  inputs = dummy_inputs(config, batch_size=2)
  params = _shapes(config)
  inputs["image"] = jax.ShapeDtypeStruct((2, height, width, 3), "float32")
  inputs["prev_mask"] = jax.ShapeDtypeStruct((2, height, width, 1), "float32")
  out = jax.eval_shape(model.apply, params, **inputs)
  assert out.shape == (2, height, width, 1)
  assert out.dtype == "float32"


def test_crop_that_does_not_split_into_windows_is_refused():
  config = model_config("tiny")
  inputs = dummy_inputs(config)
  inputs["image"] = jax.ShapeDtypeStruct((1, 480, 448, 3), "float32")
  inputs["prev_mask"] = jax.ShapeDtypeStruct((1, 480, 448, 1), "float32")
  with pytest.raises(ValueError, match="does not split into 14x14-token windows"):
    jax.eval_shape(create_model(config).init, jax.random.PRNGKey(0), **inputs)
