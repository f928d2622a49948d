"""`graco-jax segment` end to end on a generated image with a random-init tiny model."""

import os

import numpy as np
import pytest
from PIL import Image

from graco_jax import cli
from graco_jax.segment import parse_click

CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "graco.py") + ":size=tiny"


def test_segment_writes_a_binary_mask_the_size_of_the_image(tmp_path):
  out = tmp_path / "mask.png"
  code = cli.main(["segment", "--config", CONFIG, "--click", "160,200,+", "--click", "40,50,-",
                   "--granularity", "0.4", "--out", str(out)])
  assert code == 0
  mask = np.asarray(Image.open(out))
  image = np.asarray(Image.open(tmp_path / "input.png"))
  assert mask.shape == image.shape[:2] == (320, 480)
  assert set(np.unique(mask)) <= {0, 255}


def test_segment_reads_an_image_and_applies_config_overrides(tmp_path):
  Image.fromarray(np.full((100, 150, 3), 120, np.uint8)).save(tmp_path / "in.jpg")
  out = tmp_path / "m.png"
  cli.main(["segment", "--config", CONFIG, "--image", str(tmp_path / "in.jpg"), "--click",
            "50,75,+", "--out", str(out), "--config.model.crop_size=(224, 224)"])
  assert np.asarray(Image.open(out)).shape == (100, 150)


def test_bad_inputs_give_clear_errors(tmp_path, capsys):
  (tmp_path / "broken.jpg").write_bytes(b"not an image")
  assert cli.main(["segment", "--config", CONFIG, "--image", str(tmp_path / "broken.jpg"),
                   "--click", "1,1,+", "--out", str(tmp_path / "m.png")]) == 2
  assert "broken.jpg is not a readable image" in capsys.readouterr().err
  with pytest.raises(ValueError, match="not of the form"):
    parse_click("10,20")
  assert cli.main(["segment", "--config", CONFIG, "--click", "1000,1,+", "--out",
                   str(tmp_path / "m.png")]) == 2
  assert "outside" in capsys.readouterr().err


def _clicky_logits(variables, images, clicks, prev, granularity):
  """A deterministic stand-in network: the image's first channel, disks at the clicks (radius
  set by the granularity), the previous mask; enough for masks that change with every click."""
  from graco_jax.interaction.encoding import disk_maps
  maps = disk_maps(clicks, images.shape[1], images.shape[2], 4.0)
  scale = 1.0 if granularity is None else granularity[:, None, None]
  out = 8.0 * (images[..., 0] - 0.5) * scale + prev[..., 0] + 6.0 * maps[..., 0] - 6.0 * maps[..., 1]
  return out[..., None]


@pytest.mark.parametrize("network", ["model", "clicky"])
def test_segment_mask_equals_the_evaluation_protocols_prediction(network):
  """Same clicks, same granularity: `segment` scores exactly what run_click_protocol scores."""
  import jax

  from graco_jax import predictor as predictor_lib
  from graco_jax.evaluation.noc import run_click_protocol
  from graco_jax.model import init_params, model_config
  from graco_jax.segment import segment_image

  if network == "model":
    config = model_config("tiny", granularity=True, crop_size=64)
    config.window_size = 64
    predictor = predictor_lib.for_model(config, init_params(config, jax.random.PRNGKey(3)),
                                        "zoom_in_flip")
  else:
    predictor = predictor_lib.zoom_in_flip(_clicky_logits, target_size=(64, 64), min_crop_size=60)
  yy, xx = np.mgrid[:240, :300]
  gt = (((yy - 100) / 40.0) ** 2 + ((xx - 170) / 60.0) ** 2 < 1).astype(np.int8)
  rng = np.random.default_rng(0)
  image = np.clip(0.35 + 0.3 * gt[..., None] + 0.2 * rng.normal(size=(240, 300, 3)), 0, 1)
  image = image.astype(np.float32)
  result = run_click_protocol(predictor, [image], [gt], max_clicks=4, pred_thr=0.5,
                              granularity=0.4, target_iou=None, bucket_multiple=1)
  clicks = list(zip(result["y"][0], result["x"][0], result["positive"][0]))
  for k in range(1, 5):
    mask = segment_image(predictor, image, clicks[:k], 0.4) > 0.5
    iou = np.sum(mask & (gt == 1)) / max(np.sum(mask | (gt == 1)), 1)
    assert iou == result["ious"][0, k - 1], k
  if network == "clicky":
    assert len(set(result["ious"][0].tolist())) == 4  # every click changes the mask
