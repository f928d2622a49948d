"""Proposal store: exact round trip, resumable bookkeeping, clear errors; the grain source."""

import json
import os

import numpy as np
import pytest

from graco_jax.data import proposal_store as store
from graco_jax.data.sources.proposals import ProposalSource


class _Images:
  """A two-record image source in the shared record format."""

  def __init__(self):
    rng = np.random.default_rng(0)
    self.images = [rng.integers(0, 256, (20, 30, 3), dtype=np.uint8) for _ in range(2)]

  def __len__(self):
    return 2

  def __getitem__(self, i):
    mask = np.zeros((20, 30), np.int8)
    mask[2:15, 3:20] = 1
    mask[0, :] = -1
    return {"image": self.images[i], "mask": mask, "image_id": f"img{i}", "object_id": i + 1,
            "granularity": np.float32(1.0)}


def _proposal(index, rank, mask, g=0.3):
  return store.make_proposal(
      index=index, rank=rank, source_index=index, image_id=f"img{index}", object_id=index + 1,
      image_path=None,
      mask=mask, object_area=221, scale_granularity=0.3167, semantic_granularity=0.2875,
      granularity=g)


def test_rle_round_trip_is_exact():
  rng = np.random.default_rng(1)
  mask = rng.uniform(size=(37, 53)) > 0.6
  rle = store.encode_mask(mask)
  assert rle["size"] == [37, 53] and isinstance(rle["counts"], str)
  np.testing.assert_array_equal(store.decode_mask(json.loads(json.dumps(rle))), mask)


def test_store_round_trip_and_source_records(tmp_path):
  out = str(tmp_path)
  store.write_meta(out, {"source": "toy", "num_records": 2})
  a = np.zeros((20, 30), bool)
  a[2:8, 3:20] = True
  b = np.zeros((20, 30), bool)
  b[8:15, 3:20] = True
  store.write_chunk(out, host=1, batch=0, done=[1], proposals=[_proposal(1, 0, b, 0.4)])
  store.write_chunk(out, host=0, batch=0, done=[0],
                    proposals=[_proposal(0, 1, b), _proposal(0, 0, a)])
  assert store.read_done(out) == {0, 1}
  props = store.read_proposals(out)
  assert [(p["index"], p["rank"]) for p in props] == [(0, 0), (0, 1), (1, 0)]
  assert props[0]["area"] == 102 and props[0]["scale_granularity"] == 0.3167
  source = ProposalSource(out, _Images())
  assert len(source) == 3
  np.testing.assert_allclose(source.granularities(), [0.3, 0.3, 0.4])
  assert source.image_ids().tolist() == ["img0", "img0", "img1"]
  record = source[0]
  np.testing.assert_array_equal(record["image"], _Images()[0]["image"])
  expected = a.astype(np.int8)
  expected[0, :] = -1  # the source's ignore row is kept (it lies outside the proposal)
  np.testing.assert_array_equal(record["mask"], expected)
  assert record["mask"].dtype == np.int8
  assert (record["image_id"], record["object_id"]) == ("img0", 1)
  assert record["granularity"] == np.float32(0.3)
  assert record["scale_granularity"] == np.float32(0.3167)
  assert record["semantic_granularity"] == np.float32(0.2875)


def test_chunks_never_overwrite_and_duplicates_are_reported(tmp_path):
  out = str(tmp_path)
  store.write_meta(out, {"source": "toy", "num_records": 2})
  a = np.ones((4, 4), bool)
  p1 = store.write_chunk(out, 0, 3, [0], [_proposal(0, 0, a)])
  p2 = store.write_chunk(out, 0, 3, [0], [_proposal(0, 0, a)])
  assert p1 != p2 and os.path.exists(p1) and os.path.exists(p2)
  with pytest.raises(ValueError, match="is in both"):
    store.read_proposals(out)


def test_meta_mismatch_and_bad_files_name_the_file(tmp_path):
  out = str(tmp_path)
  store.write_meta(out, {"source": "toy", "num_records": 2, "config": {"lam": 0.5}})
  store.write_meta(out, {"source": "toy", "num_records": 2, "config": {"lam": 0.5}})
  with pytest.raises(ValueError, match="different settings"):
    store.write_meta(out, {"source": "toy", "num_records": 3, "config": {"lam": 0.5}})
  with pytest.raises(FileNotFoundError, match="not a proposal store"):
    store.read_meta(str(tmp_path / "nowhere"))
  bad = os.path.join(out, "chunk-h0000-b000000-0.jsonl")
  with open(bad, "w") as f:
    f.write('{"type": "proposal"}\n')
  with pytest.raises(ValueError, match="chunk-h0000-b000000-0.jsonl"):
    store.read_done(out)
  with pytest.raises(ValueError, match="3 records"):
    os.remove(bad)
    store.write_meta(str(tmp_path / "s3"), {"source": "toy", "num_records": 3})
    ProposalSource(str(tmp_path / "s3"), _Images())
