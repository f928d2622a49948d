"""The demo's state without a browser: clicks, undo, the 10-bin cache, the RLE download."""

import io

import jax
import numpy as np
import pytest
from PIL import Image

from graco_jax import predictor as predictor_lib
from graco_jax.demo import session as session_lib
from graco_jax.errors import InputError
from graco_jax.model import init_params, model_config
from graco_jax.model.vit import granularity_index
from graco_jax.segment import segment_image


def tiny_config(granularity=True):
  config = model_config("tiny", granularity=granularity, lora_rank=4 if granularity else 0,
                        crop_size=64)
  config.window_size = 64
  return config


def sharp_params(config, seed):
  """Random init with the last layer scaled x50: logits far from 0, so float32 rounding that
  differs between a batch of 1 and of 10 (~1e-7) cannot flip a thresholded pixel; no bias, so
  masks are partial."""
  variables = init_params(config, jax.random.PRNGKey(seed))
  head = variables["params"]["head"]["conv_seg"]
  head["kernel"], head["bias"] = 50.0 * head["kernel"], 0.0 * head["bias"]
  return variables


@pytest.fixture(scope="module")
def graco_predictor():
  config = tiny_config()
  return predictor_lib.for_model(config, sharp_params(config, 1))


def scene(height=90, width=120):
  yy, xx = np.mgrid[:height, :width]
  inside = ((yy - 45) / 25.0) ** 2 + ((xx - 60) / 35.0) ** 2 < 1
  rng = np.random.default_rng(0)
  image = 0.3 + 0.4 * inside[..., None] + 0.1 * rng.normal(size=(height, width, 3))
  return np.clip(image, 0, 1).astype(np.float32)


CLICKS = [(45, 60, True), (10, 10, False), (50, 80, True)]


def test_bins_are_the_models_embedding_indices():
  assert session_lib.GRANULARITY_BINS == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
  indices = [int(granularity_index(g)) for g in session_lib.GRANULARITY_BINS]
  assert indices == list(range(10))
  # Any slider value shares the mask of its bin: 0.45 and 0.4 are one embedding row.
  assert session_lib.bin_index(0.45) == session_lib.bin_index(0.4) == 3
  with pytest.raises(InputError, match="outside"):
    session_lib.bin_index(0.0)


def test_each_cached_bin_equals_segment_image_at_that_granularity(graco_predictor):
  """One batched forward per click = ten independent `segment` runs, mask for mask."""
  image = scene()
  session = session_lib.Session(graco_predictor, use_granularity=True)
  session.set_image(image)
  for k, (y, x, positive) in enumerate(CLICKS, start=1):
    session.click(y, x, positive)
    assert session.forwards == k
    masks = session.masks()
    assert masks.shape == (10, 90, 120)
    for index, g in enumerate(session_lib.GRANULARITY_BINS):
      expected = segment_image(graco_predictor, image, CLICKS[:k], g)
      np.testing.assert_array_equal(masks[index], expected > 0.5, err_msg=f"click {k} g {g}")
      np.testing.assert_allclose(session.probabilities(g), expected, atol=1e-5)
  # The random-init granularity embedding moves the mask: the bins are not ten copies, and
  # some are partial masks, neither empty nor everything.
  assert len({m.tobytes() for m in masks}) > 1
  assert any(0.01 < m.mean() < 0.99 for m in masks)


def test_slider_reads_the_cache_and_undo_restores_without_a_forward(graco_predictor):
  session = session_lib.Session(graco_predictor, use_granularity=True)
  session.set_image(scene())
  session.click(*CLICKS[0])
  after_one = session.masks().copy()
  session.click(*CLICKS[1])
  assert session.forwards == 2
  for g in np.linspace(0.1, 1.0, 19):
    session.mask(g)
  assert session.forwards == 2
  session.undo()
  assert session.clicks == [CLICKS[0]] and session.forwards == 2
  np.testing.assert_array_equal(session.masks(), after_one)
  session.reset()
  assert session.clicks == [] and not session.masks().any()
  session.undo()  # nothing to undo: no error
  with pytest.raises(InputError, match="outside the 90x120 image"):
    session.click(90, 5, True)
  with pytest.raises(InputError, match="granularity"):
    session.mask(None)


def test_click_capacity_is_enforced():
  config = tiny_config()
  predictor = predictor_lib.for_model(config, init_params(config, jax.random.PRNGKey(1)))
  session = session_lib.Session(predictor, use_granularity=True, max_clicks=2)
  with pytest.raises(InputError, match="open an image"):
    session.click(1, 1, True)
  session.set_image(scene(64, 64))
  session.click(30, 30, True)
  session.click(5, 5, False)
  with pytest.raises(InputError, match="at most 2 clicks"):
    session.click(40, 40, True)


def test_simpleclick_runs_one_instance_equal_to_segment_image():
  config = tiny_config(granularity=False)
  predictor = predictor_lib.for_model(config, sharp_params(config, 2))
  session = session_lib.Session(predictor, use_granularity=False)
  assert session.granularities == (None,)
  image = scene()
  session.set_image(image)
  session.click(*CLICKS[0])
  session.click(*CLICKS[1])
  assert session.masks().shape == (1, 90, 120)
  np.testing.assert_array_equal(session.mask(), segment_image(predictor, image, CLICKS[:2]) > 0.5)


def test_rle_decodes_to_the_mask():
  from pycocotools import mask as mask_utils
  rng = np.random.default_rng(0)
  mask = rng.random((37, 53)) > 0.6
  encoded = session_lib.rle(mask)
  assert encoded["size"] == [37, 53] and isinstance(encoded["counts"], str)
  decoded = mask_utils.decode({"size": encoded["size"], "counts": encoded["counts"].encode()})
  np.testing.assert_array_equal(decoded.astype(bool), mask)
  # By hand: [[0, 1], [1, 1]] read column-major is 0,1,1,1 = runs (1 zero, 3 ones), each
  # small count one character chr(48 + count).
  assert session_lib.rle(np.array([[0, 1], [1, 1]], bool))["counts"] == "13"


def _png(array):
  buffer = io.BytesIO()
  Image.fromarray(array).save(buffer, format="PNG")
  return buffer.getvalue()


def test_decode_image_rejects_non_images_and_huge_images():
  image = session_lib.decode_image(_png(np.full((4, 6, 3), 255, np.uint8)))
  assert image.shape == (4, 6, 3) and image.dtype == np.float32 and image.max() == 1.0
  gray = session_lib.decode_image(_png(np.zeros((5, 5), np.uint8)))
  assert gray.shape == (5, 5, 3)
  with pytest.raises(InputError, match="not a readable image"):
    session_lib.decode_image(b"GIF89a but not really")
  with pytest.raises(InputError, match="100x50 = 5,000 pixels.*at most 4,999"):
    session_lib.decode_image(_png(np.zeros((50, 100, 3), np.uint8)), max_pixels=4999)
