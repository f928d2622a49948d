"""`graco-jax segment` end to end on a generated image with a random-init tiny model."""

import os

import numpy as np
import pytest
from PIL import Image

from graco_jax import cli
from graco_jax.segment import parse_click

CONFIG = os.path.join(os.path.dirname(__file__), "..", "configs", "graco_vit_tiny448.py")


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
