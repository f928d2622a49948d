"""Forward behaviour of the tiny segmenter: shapes, LoRA, granularity, windows, dtypes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from graco_jax.interaction.clicks import add_click, empty_clicks
from graco_jax.model import create_model, granularity_index, merge_lora, model_config
from graco_jax.model.vit import window_merge, window_partition


def _inputs(height=448, width=448, batch=2, seed=0):
  rng = np.random.default_rng(seed)
  image = jnp.asarray(rng.uniform(size=(batch, height, width, 3)), jnp.float32)
  prev = jnp.asarray(rng.uniform(size=(batch, height, width, 1)) > 0.7, jnp.float32)
  clicks = empty_clicks(batch, 4)
  clicks = add_click(clicks, jnp.array([100, 300]), jnp.array([120, 40]), jnp.array([True, True]))
  clicks = add_click(clicks, jnp.array([10, 200]), jnp.array([400, 200]), jnp.array([False, True]))
  return image, clicks, prev


def _drop(params, word):
  flat = traverse_util.flatten_dict(params)
  return traverse_util.unflatten_dict({k: v for k, v in flat.items() if word not in k})


def _randomize_lora_b(params, key):
  flat = traverse_util.flatten_dict(params)
  for i, path in enumerate(sorted(k for k in flat if k[-1] == "lora_b")):
    flat[path] = 0.05 * jax.random.normal(jax.random.fold_in(key, i), flat[path].shape)
  return traverse_util.unflatten_dict(flat)


@pytest.fixture(scope="module")
def graco():
  config = model_config("tiny", granularity=True, lora_rank=8)
  model = create_model(config)
  image, clicks, prev = _inputs()
  params = model.init(jax.random.PRNGKey(0), image, clicks, prev, jnp.ones(2))
  return config, model, params


def test_forward_shapes_and_finite_at_448_and_672x448(graco):
  config, model, params = graco
  for height, width in [(448, 448), (672, 448)]:
    image, clicks, prev = _inputs(height, width)
    logits = jax.jit(model.apply)(params, image, clicks, prev, jnp.array([0.3, 1.0]))
    assert logits.shape == (2, height, width, 1)
    assert logits.dtype == jnp.float32
    assert np.isfinite(np.asarray(logits)).all()
    assert float(jnp.std(logits)) > 0


def test_fresh_lora_computes_exactly_the_base_model(graco):
  config, model, params = graco
  plain_config = model_config("tiny", granularity=True, lora_rank=0)
  plain = create_model(plain_config)
  image, clicks, prev = _inputs()
  gra = jnp.array([0.4, 0.9])
  with_lora = model.apply(params, image, clicks, prev, gra)
  without = plain.apply(_drop(params, "lora"), image, clicks, prev, gra)
  np.testing.assert_array_equal(np.asarray(with_lora), np.asarray(without))


def test_evaluation_computes_the_merged_model_and_training_the_same_function_unmerged(graco):
  """Evaluation folds LoRA into the qkv kernel (loralib under eval()): exactly `merge_lora`'s
  model. Training adds the update to the qkv output: the same function up to rounding."""
  config, model, params = graco
  params = _randomize_lora_b(params, jax.random.PRNGKey(1))
  merged_config, merged_params = merge_lora(config, params)
  assert merged_config.lora.rank == 0
  assert not any("lora" in k for k in traverse_util.flatten_dict(merged_params))
  image, clicks, prev = _inputs()
  gra = jnp.array([0.2, 0.7])
  evaluated = np.asarray(model.apply(params, image, clicks, prev, gra))
  merged = np.asarray(create_model(merged_config).apply(merged_params, image, clicks, prev, gra))
  np.testing.assert_array_equal(evaluated, merged)
  no_dropout = config.copy_and_resolve_references()
  no_dropout.head_dropout = 0.0
  trained_form = np.asarray(create_model(no_dropout).apply(params, image, clicks, prev, gra,
                                                           train=True))
  base = np.asarray(create_model(merged_config).apply(_drop(params, "lora"), image, clicks, prev,
                                                      gra))
  # The adapter must really change the function, or the comparison proves nothing.
  assert np.abs(trained_form - base).max() > 1e-3
  np.testing.assert_allclose(trained_form, evaluated, rtol=1e-5,
                             atol=1e-5 * np.abs(evaluated).max())


def test_granularity_changes_output_and_none_skips_the_embedding(graco):
  config, model, params = graco
  image, clicks, prev = _inputs()
  fine = np.asarray(model.apply(params, image, clicks, prev, jnp.array([0.1, 0.1])))
  coarse = np.asarray(model.apply(params, image, clicks, prev, jnp.array([1.0, 1.0])))
  assert np.abs(fine - coarse).max() > 1e-3
  # Same bin, same output: 0.25 and 0.29 both map to bin 1.
  a = model.apply(params, image, clicks, prev, jnp.array([0.25, 0.25]))
  b = model.apply(params, image, clicks, prev, jnp.array([0.29, 0.29]))
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  no_gra = create_model(model_config("tiny", granularity=False, lora_rank=8))
  none = model.apply(params, image, clicks, prev, None)
  plain = no_gra.apply(_drop(params, "gra_embed"), image, clicks, prev, None)
  np.testing.assert_array_equal(np.asarray(none), np.asarray(plain))


def test_granularity_index_follows_official_binning():
  g = jnp.array([0.01, 0.1, 0.15, 0.2, 0.3, 0.45, 0.7, 0.95, 1.0])
  # clamp(trunc(10 g - 1), 0, 9), in float32: 0.3 * 10 - 1 = 2.0000001 -> 2; 0.7 -> 6.
  np.testing.assert_array_equal(np.asarray(granularity_index(g)), [0, 0, 0, 1, 2, 3, 6, 8, 9])


def test_windowed_block_is_local_and_global_block_is_not():
  config = model_config("tiny", granularity=False, lora_rank=0)
  config.depth = 8  # period 2: blocks_0 windowed, blocks_1 global
  model = create_model(config)
  image, clicks, prev = _inputs(batch=1)
  params = model.init(jax.random.PRNGKey(0), image, clicks, prev, None)

  def block_outputs(img):
    _, state = model.apply(params, img, clicks, prev, None, capture_intermediates=True,
                           mutable=["intermediates"])
    inter = state["intermediates"]["backbone"]
    windowed = window_merge(inter["blocks_0"]["__call__"][0], 1, 28, 28, 14)
    global_ = inter["blocks_1"]["__call__"][0].reshape(1, 28, 28, -1)
    return np.asarray(windowed), np.asarray(global_)

  # Perturb pixels of the top-left 224x224 window only (tokens 0..13 x 0..13).
  perturbed = image.at[:, 50:150, 60:170].add(0.5)
  w0, g0 = block_outputs(image)
  w1, g1 = block_outputs(perturbed)
  changed = np.abs(w1 - w0).max(axis=-1)[0]
  assert changed[:14, :14].max() > 1e-3
  assert changed[14:, :].max() == 0 and changed[:, 14:].max() == 0
  changed_global = np.abs(g1 - g0).max(axis=-1)[0]
  assert changed_global[14:, 14:].min() > 0


def test_window_partition_round_trip_and_order():
  x = jnp.arange(1 * 4 * 6 * 1).reshape(1, 4, 6, 1)
  windows = window_partition(x, 2)
  assert windows.shape == (6, 4, 1)
  # Windows are row-major over the grid, tokens row-major inside a window.
  np.testing.assert_array_equal(np.asarray(windows[1, :, 0]), [2, 3, 8, 9])
  np.testing.assert_array_equal(np.asarray(window_merge(windows, 1, 4, 6, 2)), np.asarray(x))


def test_small_depths_run(graco):
  for depth in (1, 2, 4):
    config = model_config("tiny", granularity=True, lora_rank=4)
    config.depth = depth
    config.crop_size = (224, 224)
    model = create_model(config)
    image, clicks, prev = _inputs(224, 224, batch=1)
    params = model.init(jax.random.PRNGKey(0), image, clicks, prev, jnp.ones(1))
    assert model.apply(params, image, clicks, prev, jnp.ones(1)).shape == (1, 224, 224, 1)


def test_bfloat16_compute_is_close_to_float32(graco):
  config, model, params = graco
  bf16_config = model_config("tiny", granularity=True, lora_rank=8)
  bf16_config.dtype = "bfloat16"
  image, clicks, prev = _inputs()
  gra = jnp.array([0.5, 1.0])
  f32 = np.asarray(model.apply(params, image, clicks, prev, gra))
  bf16 = create_model(bf16_config).apply(params, image, clicks, prev, gra)
  assert bf16.dtype == jnp.float32  # logits come back in float32
  bf16 = np.asarray(bf16)
  assert np.abs(bf16 - f32).mean() < 0.05 * f32.std()
  assert np.corrcoef(bf16.ravel(), f32.ravel())[0, 1] > 0.99
