import json
import os

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from graco_jax.data.sources import sbd_train


def _write_sbd(root):
  os.makedirs(os.path.join(root, "img"))
  os.makedirs(os.path.join(root, "inst"))
  inst = np.zeros((40, 50), np.uint8)
  inst[5:25, 5:25] = 1  # a solid object
  inst[30, 0:50] = 2  # a 1-pixel line: fills 50 / (1 * 50) = 1 of its box: kept
  inst[0:40, 40] = 3
  inst[0, 0:40] = 3  # an L-shape: 79 px in a 40x40 box = 0.049 < 0.08: "buggy", removed
  Image.fromarray(np.full((40, 50, 3), 128, np.uint8)).save(os.path.join(root, "img", "a.jpg"))
  savemat(os.path.join(root, "inst", "a.mat"),
          {"GTinst": {"Segmentation": inst, "Boundaries": np.zeros(1), "Categories": [1]}})
  with open(os.path.join(root, "train.txt"), "w") as f:
    f.write("a\n")


def test_reads_instances_and_removes_buggy_masks(tmp_path):
  root = str(tmp_path)
  _write_sbd(root)
  source = sbd_train.SBDTrainSource(root)
  record = source[0]
  assert len(source) == 1 and record["image"].shape == (40, 50, 3)
  assert record["image"].dtype == np.uint8
  assert set(np.unique(record["instances"])) == {0, 1, 2}
  np.testing.assert_array_equal(record["mask"], (record["instances"] > 0).astype(np.int8))
  assert record["granularity"] == 1.0
  assert source.granularities().tolist() == [1.0] and source.image_ids().tolist() == ["a"]


def test_missing_files_are_named(tmp_path):
  with pytest.raises(FileNotFoundError, match="train.txt"):
    sbd_train.SBDTrainSource(str(tmp_path))
  bad = tmp_path / "x.mat"
  bad.write_bytes(b"not a mat file")
  with pytest.raises(ValueError, match="x.mat"):
    sbd_train.read_sbd_instances(str(bad))


def test_sample_weights_follow_one_minus_score_to_the_gamma(tmp_path):
  path = tmp_path / "scores.json"
  path.write_text(json.dumps({"indices": [0, 2], "scores": [0.5, 0.75]}))
  p = sbd_train.sample_weights(str(path), 3, gamma=2.0)
  np.testing.assert_allclose(p, np.array([0.25, 0, 0.0625]) / 0.3125)
