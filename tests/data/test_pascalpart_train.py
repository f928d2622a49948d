"""PascalPart GT parts with granularity for GCL training, on files in the real .mat layout."""

import os

import ml_collections
import numpy as np
import pytest
from PIL import Image

from graco_jax.data import pipeline, registry
from graco_jax.data.sources.concat import source_granularities
from graco_jax.data.sources.pascalpart import PascalPartTrainParts, part_granularity
from graco_jax.training.defaults import train_fields

H, W = 24, 32


def _box(y0, y1, x0, x1):
  m = np.zeros((H, W), np.uint8)
  m[y0:y1, x0:x1] = 1
  return m


# cow: 8 x 10 = 80 px. head 12 px: 0.15 -> 0.2 (numpy rounds the float64 ratio half to even
# after scaling; Python's round(0.15, 1) would give 0.1); body 36 px: 0.45 -> 0.4; tail 2 px:
# 0.025 -> 0.0 -> floor 0.1; an empty part is left out. person: no parts -> the object only.
COW = _box(2, 10, 2, 12)
HEAD, BODY, TAIL = _box(2, 5, 2, 6), _box(4, 10, 2, 8), _box(9, 10, 10, 12)
PERSON = _box(12, 20, 20, 30)
BIRD = _box(1, 6, 1, 6)
EXPECTED = [  # (image, object index, part index or -1, part name, mask, granularity)
    ("2008_000001", 0, -1, "cow", COW, 1.0),
    ("2008_000001", 0, 0, "head", HEAD, 0.2),
    ("2008_000001", 0, 1, "body", BODY, 0.4),
    ("2008_000001", 0, 3, "tail", TAIL, 0.1),
    ("2008_000001", 1, -1, "person", PERSON, 1.0),
    ("2008_000002", 0, -1, "bird", BIRD, 1.0),
    ("2008_000002", 0, 0, "lwing_1", _box(1, 3, 1, 6), 0.4),  # 10 / 25
]


def _write_root(root, write_annotation):
  annotations = {
      "2008_000001": [("cow", COW, [("head", HEAD), ("body", BODY), ("leg", np.zeros_like(COW)),
                                    ("tail", TAIL)]),
                      ("person", PERSON, [])],
      "2008_000002": [("bird", BIRD, [("lwing_1", _box(1, 3, 1, 6))])],
      "2008_000003": [("cat", _box(0, 4, 0, 4), [])],  # not in train.txt
  }
  os.makedirs(root / "Annotations_Part")
  os.makedirs(root / "JPEGImages")
  images = {}
  for seed, (name, objects) in enumerate(annotations.items()):
    images[name] = np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)
    Image.fromarray(images[name]).save(root / "JPEGImages" / f"{name}.jpg")
    write_annotation(root / "Annotations_Part" / f"{name}.mat", name, objects)
  os.makedirs(root / "ImageSets" / "Main")
  (root / "ImageSets" / "Main" / "train.txt").write_text("2008_000001\n2008_000002\n")
  return images


def test_part_granularity_follows_the_official_rounding():
  assert part_granularity(12, 80) == 0.2 and round(12 / 80, 1) == 0.1
  assert part_granularity(36, 80) == 0.4
  assert part_granularity(1, 80) == 0.1
  assert part_granularity(80, 80) == 1.0


def test_train_parts_lists_objects_and_parts_with_granularity(tmp_path, write_pascalpart_annotation):
  _write_root(tmp_path, write_pascalpart_annotation)
  source = PascalPartTrainParts(str(tmp_path))
  assert len(source) == len(EXPECTED)
  assert [(n, i, j) for n, i, j, *_ in source.items] == [(n, i, j) for n, i, j, *_ in EXPECTED]
  granularities = source.granularities()
  assert granularities.dtype == np.float32
  np.testing.assert_array_equal(granularities, np.float32([e[5] for e in EXPECTED]))
  assert source.image_ids().tolist() == [e[0] for e in EXPECTED]
  jpeg = np.asarray(Image.open(tmp_path / "JPEGImages" / "2008_000001.jpg").convert("RGB"))
  for k, (name, i, j, part, mask, g) in enumerate(EXPECTED):
    record = source[k]
    assert record["image"].dtype == np.uint8 and record["image"].shape == (H, W, 3)
    assert record["mask"].dtype == np.int8
    np.testing.assert_array_equal(record["mask"], mask)
    assert record["image_id"] == name and record["object_id"] == 1000 * i + j + 1
    assert record["part_name"] == part
    assert record["granularity"].dtype == np.float32 and record["granularity"] == granularities[k]
  np.testing.assert_array_equal(source[0]["image"], jpeg)
  assert len(PascalPartTrainParts(str(tmp_path), classes=("bird",))) == 2
  assert len(PascalPartTrainParts(str(tmp_path), min_area=12)) == 5  # tail and lwing go


def test_missing_train_list_names_the_file(tmp_path, write_pascalpart_annotation):
  _write_root(tmp_path, write_pascalpart_annotation)
  with pytest.raises(FileNotFoundError, match="val.txt"):
    PascalPartTrainParts(str(tmp_path), split="val")


def test_gcl_gt_part_reads_a_pascalpart_root(tmp_path, write_pascalpart_annotation):
  _write_root(tmp_path, write_pascalpart_annotation)
  config = ml_collections.ConfigDict()
  config.model = {"crop_size": (32, 32)}
  train_fields(config)
  config.train.max_num_points = 4
  config.data.source = "gcl"
  config.data.parts = ("gt",)
  config.data.gt_path = str(tmp_path)
  config.data.sampling = "inverse_granularity"
  config.data.sampler.min_object_area = 1
  config.data.num_threads = 1
  source = registry.build_source(config.data)
  assert len(source) == len(EXPECTED)
  np.testing.assert_array_equal(source[2]["mask"], BODY)
  g = source_granularities(source)
  np.testing.assert_array_equal(g, np.float32([e[5] for e in EXPECTED]))
  # Bins 0.1, 0.2, 0.4 and 1.0 share the probability equally.
  np.testing.assert_allclose(pipeline.inverse_granularity_weights(g),
                             [1 / 12, 1 / 4, 1 / 8, 1 / 4, 1 / 12, 1 / 12, 1 / 8])
  batch = next(iter(pipeline.make_train_dataset(source, config, batch_size=4, seed=0)))
  assert batch["image"].shape == (4, 32, 32, 3)
  assert np.isin(batch["granularity"], np.float32([0.1, 0.2, 0.4, 1.0])).all()
