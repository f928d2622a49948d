"""`graco-jax generate` end to end: tiny model checkpoint, synthetic scenes, store readable back."""

import json
import os

import jax
import numpy as np

from graco_jax import cli
from graco_jax.data import proposal_store as store, registry
from graco_jax.checkpoints.manager import save_params
from graco_jax.model import init_params, model_config

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs")


def test_generate_command_with_a_tiny_model(tmp_path, capsys):
  config = model_config("tiny", granularity=False, lora_rank=0, crop_size=64)
  config.window_size = 64
  workdir = str(tmp_path / "model")
  save_params(workdir, config, init_params(config, jax.random.PRNGKey(0)))
  out = str(tmp_path / "store")
  argv = ["generate", "--config", os.path.join(CONFIGS, "agg_synthetic.py"), "--checkpoint",
          workdir, "--out", out, "--no-progress", "--config.data.num_images=2",
          "--config.data.image_size=(64, 64)", "--config.agg.batch_size=4",
          "--config.agg.max_iters=3"]
  assert cli.main(argv) == 0
  summary = json.loads(capsys.readouterr().out)
  meta = store.read_meta(out)
  assert meta["config"]["input_size"] == 64 and meta["data"]["source"] == "synthetic_scenes"
  assert summary["instances_done"] == len(store.read_done(out)) > 0
  # Rerunning is a no-op resume: nothing recomputed, same proposals.
  before = store.read_proposals(out)
  assert cli.main(argv) == 0
  assert json.loads(capsys.readouterr().out)["proposals_this_run"] == 0
  assert store.read_proposals(out) == before
  # The store rebuilds its images from the recorded data config.
  records = registry.proposal_source(out)
  assert len(records) == len(before)
  if len(records):
    r = records[0]
    assert r["image"].shape == (64, 64, 3) and r["mask"].shape == (64, 64)
    assert 0.1 <= r["granularity"] <= 1.0
    np.testing.assert_array_equal(r["mask"] == 1, store.decode_mask(before[0]["rle"]))
