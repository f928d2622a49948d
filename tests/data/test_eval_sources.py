"""Evaluation dataset sources on small files written in the real on-disk formats."""

import json
import os

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from scipy.io import savemat

from graco_jax.data.sources.berkeley import BerkeleySource
from graco_jax.data.sources.coco_mval import COCOMValSource
from graco_jax.data.sources.davis import DavisSource
from graco_jax.data.sources.grabcut import GrabCutSource
from graco_jax.data.sources.partimagenet import PartImageNetSource
from graco_jax.data.sources.pascalpart import PascalPartSource
from graco_jax.data.sources.sa1b import SA1BSource
from graco_jax.data.sources.sbd import SBDEvalSource

GRABCUT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared",
                                        "data", "grabcut"))


def _image(path, h=12, w=16, seed=0):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
  Image.fromarray(pixels).save(path)  # PNG (lossless) or JPEG by extension
  return pixels


def _check_record(record, h, w):
  assert record["image"].dtype == np.uint8 and record["image"].shape == (h, w, 3)
  assert record["mask"].dtype == np.int8 and record["mask"].shape == (h, w)
  assert isinstance(record["image_id"], str) and isinstance(record["object_id"], int)
  assert record["granularity"].dtype == np.float32


def test_grabcut_and_berkeley_decode_ignore_band(tmp_path):
  for source_cls, images, masks in ((GrabCutSource, "data_GT", "boundary_GT"),
                                    (BerkeleySource, "images", "masks")):
    root = tmp_path / source_cls.__name__
    pixels = _image(str(root / images / "a.png"))
    raw = np.zeros((12, 16), np.uint8)
    raw[2:8, 3:9] = 255
    raw[1, 2:10] = 128
    os.makedirs(root / masks)
    Image.fromarray(raw).save(root / masks / "a.bmp")
    source = source_cls(str(root))
    record = source[0]
    _check_record(record, 12, 16)
    np.testing.assert_array_equal(record["image"], pixels)
    np.testing.assert_array_equal(record["mask"], np.where(raw == 128, -1, raw > 128))
    assert len(source) == 1 and record["granularity"] == 1.0


def test_missing_mask_error_names_the_folder(tmp_path):
  _image(str(tmp_path / "data_GT" / "a.png"))
  os.makedirs(tmp_path / "boundary_GT")
  with pytest.raises(FileNotFoundError, match="boundary_GT"):
    GrabCutSource(str(tmp_path))


def test_davis_and_coco_mval_any_colour_is_object(tmp_path):
  for source_cls in (DavisSource, COCOMValSource):
    root = tmp_path / source_cls.__name__
    _image(str(root / "img" / "f1.jpg"))
    gt = np.zeros((12, 16, 3), np.uint8)
    gt[3:6, 4:9, 2] = 1  # a faint blue object
    gt[8, 1] = (200, 0, 0)
    os.makedirs(root / "gt")
    Image.fromarray(gt).save(root / "gt" / "f1.png")
    record = source_cls(str(root))[0]
    _check_record(record, 12, 16)
    np.testing.assert_array_equal(record["mask"], gt.max(-1) > 0)


def test_real_grabcut_has_50_instances_with_ignore_band():
  if not os.path.isdir(GRABCUT):
    pytest.skip(f"real GrabCut data not found under {GRABCUT}")
  source = GrabCutSource(GRABCUT)
  assert len(source) == 50
  values = [set(np.unique(source[i]["mask"]).tolist()) for i in range(0, 50, 7)]
  assert all(v <= {-1, 0, 1} and 1 in v for v in values)
  assert any(-1 in v for v in values)  # the 128 boundary band is ignored


def test_sbd_val_lists_every_instance(tmp_path):
  for name, seed in (("2008_000001", 1), ("2008_000002", 2)):
    _image(str(tmp_path / "img" / f"{name}.jpg"), seed=seed)
  inst1 = np.zeros((12, 16), np.uint8)
  inst1[1:4, 1:5], inst1[6:10, 8:15] = 1, 3
  inst2 = np.zeros((12, 16), np.uint8)
  inst2[2:9, 2:9] = 2
  os.makedirs(tmp_path / "inst")
  for name, inst in (("2008_000001", inst1), ("2008_000002", inst2)):
    savemat(tmp_path / "inst" / f"{name}.mat",
            {"GTinst": {"Segmentation": inst, "Boundaries": np.zeros((1, 1)), "Categories": np.ones((1, 1))}})
  (tmp_path / "val.txt").write_text("2008_000001\n2008_000002\n")
  source = SBDEvalSource(str(tmp_path))
  assert source.items == [("2008_000001", 1), ("2008_000001", 3), ("2008_000002", 2)]
  record = source[1]
  _check_record(record, 12, 16)
  np.testing.assert_array_equal(record["mask"], inst1 == 3)
  assert record["object_id"] == 3


def test_pascalpart_lists_parts_of_the_selected_classes(tmp_path, write_pascalpart_annotation):
  _image(str(tmp_path / "JPEGImages" / "2008_000003.jpg"))
  cow = np.zeros((12, 16), np.uint8)
  cow[2:10, 2:12] = 1
  head = np.zeros_like(cow)
  head[2:5, 2:5] = 1
  leg = np.zeros_like(cow)
  leg[7:10, 9:11] = 1
  person = np.zeros_like(cow)
  person[0:3, 12:16] = 1
  os.makedirs(tmp_path / "Annotations_Part")
  write_pascalpart_annotation(tmp_path / "Annotations_Part" / "2008_000003.mat", "2008_000003",
                              [("cow", cow, [("head", head), ("lfleg_1", leg)]),
                               ("person", person, [("hair", person)])])
  os.makedirs(tmp_path / "ImageSets" / "Main")
  (tmp_path / "ImageSets" / "Main" / "part_val.txt").write_text("2008_000003\n")
  source = PascalPartSource(str(tmp_path))
  assert [(i, j, c, p) for _, i, j, c, p in source.items] == [(0, 0, "cow", "head"), (0, 1, "cow", "lfleg_1")]
  record = source[1]
  _check_record(record, 12, 16)
  np.testing.assert_array_equal(record["mask"], leg)
  assert np.isnan(record["granularity"])
  assert len(PascalPartSource(str(tmp_path), classes=None, part_name="hair")) == 1


def _rle(mask):
  rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
  return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def test_partimagenet_unions_annotations_of_a_part_category(tmp_path):
  _image(str(tmp_path / "images" / "val" / "n01_1.JPEG"), seed=3)
  a = np.zeros((12, 16), bool)
  a[1:4, 1:4] = True
  b = np.zeros((12, 16), bool)
  b[6:9, 10:14] = True
  poly = [[1.0, 8.0, 5.0, 8.0, 5.0, 11.0, 1.0, 11.0]]
  data = {
      "images": [{"id": 7, "file_name": "n01_1.JPEG", "height": 12, "width": 16}],
      "categories": [{"id": 0, "name": "Head", "supercategory": "Quadruped"},
                     {"id": 1, "name": "Foot", "supercategory": "Quadruped"}],
      "annotations": [{"id": 1, "image_id": 7, "category_id": 0, "segmentation": _rle(a)},
                      {"id": 2, "image_id": 7, "category_id": 0, "segmentation": _rle(b)},
                      {"id": 3, "image_id": 7, "category_id": 1, "segmentation": poly}],
  }
  os.makedirs(tmp_path / "annotations")
  (tmp_path / "annotations" / "val.json").write_text(json.dumps(data))
  source = PartImageNetSource(str(tmp_path))
  assert len(source) == 2
  record = source[0]
  _check_record(record, 12, 16)
  np.testing.assert_array_equal(record["mask"], a | b)
  foot = source[1]["mask"]
  expected = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(poly, 12, 16)))
  np.testing.assert_array_equal(foot, expected)
  assert len(PartImageNetSource(str(tmp_path), part_name="foot")) == 1


def test_sa1b_first_images_and_non_overlapping_masks(tmp_path):
  os.makedirs(tmp_path / "annotations")
  for n in (2, 10, 1):  # natural order: sa_1, sa_2, sa_10
    _image(str(tmp_path / "images" / f"sa_{n}.jpg"), seed=n)
    masks = []
    for k in range(8):  # 8 horizontal bands, pairwise disjoint, plus one overlapping everything
      m = np.zeros((12, 16), bool)
      m[k:k + 1] = True
      masks.append(m)
    masks.append(np.ones((12, 16), bool))
    anns = [{"id": 100 * n + k, "segmentation": _rle(m)} for k, m in enumerate(masks)]
    (tmp_path / "annotations" / f"sa_{n}.json").write_text(
        json.dumps({"image": {"image_id": n, "height": 12, "width": 16}, "annotations": anns}))
  source = SA1BSource(str(tmp_path), num_images=2)
  assert [item[0] for item in source.items] == ["sa_1"] * 5 + ["sa_2"] * 5
  for image_id in ("sa_1", "sa_2"):
    masks = [source[i]["mask"] for i, item in enumerate(source.items) if item[0] == image_id]
    assert np.max(np.sum(masks, axis=0)) == 1  # pairwise disjoint
  _check_record(source[0], 12, 16)
  again = SA1BSource(str(tmp_path), num_images=2)
  assert again.items == source.items  # seeded
