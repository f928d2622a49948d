"""The sharded, resumable driver: hand-computed proposals, resume, 1 vs 8 devices, summary."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from agg_toys import SIZE, ToySource, part_image, part_predict_fn
from graco_jax import parallel
from graco_jax.agg import generate as gen
from graco_jax.data import proposal_store as store
from graco_jax.data.sources.proposals import ProposalSource

HERE = os.path.dirname(os.path.abspath(__file__))


def _config(**overrides):
  config = gen.default_config()
  config.input_size = SIZE
  config.batch_size = 4
  for k, v in overrides.items():
    config[k] = v
  return config


class _TwoParts:
  """One record: object rows 16..47, part A = columns 8..23, part B = columns 24..55."""

  def __len__(self):
    return 1

  def __getitem__(self, i):
    image = np.round(part_image([8, 24, 56]) * 255).astype(np.uint8)
    mask = np.zeros((SIZE, SIZE), np.int8)
    mask[16:48, 8:56] = 1
    return {"image": image, "mask": mask, "image_id": "two", "object_id": 7,
            "granularity": np.float32(1.0)}


def test_one_iteration_gives_the_hand_computed_proposals(tmp_path):
  config = _config(min_iters=1, max_iters=1)
  gen.generate(config, part_predict_fn, _TwoParts(), str(tmp_path), mesh=parallel.make_mesh(1),
               progress=False)
  props = store.read_proposals(str(tmp_path))
  assert [p["rank"] for p in props] == [0, 1]
  # The negative click removes the part it falls in: rank 0 is the other part, rank 1 the
  # clicked one (its complement). Semantic maps are the image's ramp (uint8-quantised).
  ramp = np.round(np.arange(SIZE) / (SIZE - 1) * 255) / 255
  parts = {"A": (8, 24), "B": (24, 56)}
  expected = {}
  for name, (left, right) in parts.items():
    scale = (right - left) / 48
    semantic = (ramp[right - 1] - ramp[left]) / (ramp[55] - ramp[8])
    expected[left] = (scale, semantic, {"A": 0.3, "B": 0.7}[name])
  seen = set()
  for p in props:
    mask = store.decode_mask(p["rle"])
    cols = np.flatnonzero(mask.any(0))
    left, right = cols[0], cols[-1] + 1
    ref = np.zeros((SIZE, SIZE), bool)
    ref[16:48, left:right] = True
    np.testing.assert_array_equal(mask, ref)
    scale, semantic, g = expected[left]
    assert p["scale_granularity"] == scale
    assert p["semantic_granularity"] == pytest.approx(semantic, abs=1e-6)
    assert p["granularity"] == g
    assert (p["image_id"], p["object_id"], p["object_area"]) == ("two", 7, 1536)
    seen.add(left)
  assert seen == {8, 24}
  # Official combination: the scale bin.
  official = str(tmp_path / "official")
  gen.generate(_config(min_iters=1, max_iters=1, combination="official"), part_predict_fn,
               _TwoParts(), official, mesh=parallel.make_mesh(1), progress=False)
  assert sorted(p["granularity"] for p in store.read_proposals(official)) == [0.3, 0.7]


def test_resumed_run_matches_uninterrupted_run(tmp_path):
  source, mesh = ToySource(10), parallel.make_mesh(1)
  full, resumed = str(tmp_path / "full"), str(tmp_path / "resumed")
  summary = gen.generate(_config(), part_predict_fn, source, full, mesh=mesh, progress=False)
  reference = store.read_proposals(full)
  assert summary["instances_done"] == 10 and summary["num_proposals"] == len(reference) > 10
  assert sum(summary["granularity_histogram"].values()) == len(reference)
  for name in ("summary.json", "granularity_histogram.png", "gallery.png"):
    assert os.path.getsize(os.path.join(full, name)) > 0

  gen.generate(_config(), part_predict_fn, source, resumed, mesh=mesh, progress=False,
               max_batches=1)
  assert store.read_done(resumed) == {0, 1, 2, 3}
  # A crash of one host mid-batch: batch 1 holds only records 4 and 5 so far.
  partial = [p for p in reference if p["index"] in (4, 5)]
  store.write_chunk(resumed, host=1, batch=1, done=[4, 5], proposals=partial)
  gen.generate(_config(), part_predict_fn, source, resumed, mesh=mesh, progress=False)
  assert store.read_proposals(resumed) == reference
  assert store.read_done(resumed) == set(range(10))

  # The proposals feed training through the grain source.
  records = ProposalSource(resumed, source)
  assert len(records) == len(reference)
  r = records[3]
  assert r["mask"].dtype == np.int8 and r["image"].shape == (SIZE, SIZE, 3)
  assert r["granularity"] == np.float32(reference[3]["granularity"])

  with pytest.raises(ValueError, match="different settings"):
    gen.generate(_config(lam=0.3), part_predict_fn, source, resumed, mesh=mesh, progress=False)


_EIGHT_DEVICES = """
import json, sys
sys.path.insert(0, {here!r})
import jax
from agg_toys import ToySource, part_predict_fn
from graco_jax.agg import generate as gen
from graco_jax.data import proposal_store as store
assert jax.device_count() == 8
config = gen.default_config()
config.input_size, config.batch_size = 64, 6
gen.generate(config, part_predict_fn, ToySource(12), {out!r}, progress=False)
"""


def test_eight_devices_match_one_device(tmp_path):
  one, eight = str(tmp_path / "one"), str(tmp_path / "eight")
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
             JAX_PLATFORMS="cpu")
  subprocess.run([sys.executable, "-c", _EIGHT_DEVICES.format(here=HERE, out=eight)], env=env,
                 check=True, capture_output=True)
  # batch_size 6 pads each batch to 8 on eight devices, not on one.
  gen.generate(_config(batch_size=6), part_predict_fn, ToySource(12), one,
               mesh=parallel.make_mesh(1), progress=False)
  assert store.read_proposals(one) == store.read_proposals(eight)
  with open(os.path.join(one, "meta.json")) as f, open(os.path.join(eight, "meta.json")) as g:
    assert json.load(f) == json.load(g)


class _PerImage:
  """Per-image records with an 'instances' label map (like SBD training images)."""

  def __init__(self):
    self.toys = ToySource(3, seed=5)

  def __len__(self):
    return 3

  def __getitem__(self, i):
    record = dict(self.toys[i])
    instances = record.pop("mask").astype(np.int32) * 3  # object 3 ...
    instances[:4, :4] = 5  # ... and a tiny object 5
    return {**record, "mask": (instances > 0).astype(np.int8), "instances": instances,
            "object_id": -1}


def test_per_image_sources_expand_to_instances(tmp_path):
  out = str(tmp_path)
  gen.generate(_config(), part_predict_fn, _PerImage(), out, mesh=parallel.make_mesh(1),
               progress=False)
  with open(os.path.join(out, "instances.json")) as f:
    assert json.load(f)["instances"] == [[i, k] for i in range(3) for k in (3, 5)]
  props = store.read_proposals(out)
  assert store.read_done(out) == set(range(6))
  assert {(p["source_index"], p["object_id"]) for p in props} >= {(0, 3), (1, 3), (2, 3)}
  records = ProposalSource(out, _PerImage())
  record = records[0]
  np.testing.assert_array_equal(record["image"], _PerImage()[props[0]["source_index"]]["image"])
  np.testing.assert_array_equal(record["mask"], store.decode_mask(props[0]["rle"]))
