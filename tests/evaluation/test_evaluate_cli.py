"""`graco-jax evaluate` end to end on a tiny GrabCut-format dataset with a tiny random model."""

import json
import os

import numpy as np
from PIL import Image

from graco_jax import cli


def _dataset(root):
  os.makedirs(root / "data_GT")
  os.makedirs(root / "boundary_GT")
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[:40, :48]
  for i in range(3):
    mask = ((yy - 20) ** 2 + (xx - 18 - 4 * i) ** 2 < 100).astype(np.uint8) * 255
    image = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
    Image.fromarray(image).save(root / "data_GT" / f"im{i}.png")
    Image.fromarray(mask).save(root / "boundary_GT" / f"im{i}.bmp")


def test_evaluate_writes_results_table_and_plots(tmp_path):
  _dataset(tmp_path / "grabcut")
  out = tmp_path / "eval"
  code = cli.main([
      "evaluate", "--config", "configs/eval_quick.py", "--workdir", str(out),
      f"--config.eval.paths.GrabCut={tmp_path / 'grabcut'}",
      "--config.model.crop_size=(64, 64)", "--config.model.window_size=64",
      "--config.eval.target_size=64", "--config.eval.min_crop_size=16",
      "--config.eval.max_clicks=3", "--config.eval.oracle=True", "--config.eval.bucket_multiple=48",
      "--config.eval.with_flip=False",
  ])
  assert code == 0
  results = json.loads((out / "results.json").read_text())
  summary = results["datasets"]["GrabCut"]
  assert summary["num_instances"] == 3
  assert 1.0 <= summary["noc@85"] <= 3.0 and 0.0 <= summary["iou@1"] <= 1.0
  assert sum(summary["granularity_histogram"].values()) == 3
  table = (out / "results.md").read_text()
  assert "| GrabCut |" in table and "NoC@85" in table
  assert (out / "iou_vs_clicks.png").stat().st_size > 1000
  arrays = np.load(out / "instances_GrabCut.npz")
  assert arrays["ious"].shape == (3, 3) and arrays["oracle_ious"].shape == (3, 10, 3)
