"""TFDS instance-mask sources on tiny datasets built here in the TFDS format (array_record),
with the feature layouts of TFDS's coco/2017_panoptic and lvis; no TensorFlow involved."""

import io
import sys

import ml_collections
import numpy as np
import pytest
from PIL import Image

tfds = pytest.importorskip("tensorflow_datasets")

from graco_jax.data import pipeline, registry  # noqa: E402
from graco_jax.data.sources import tfds_coco  # noqa: E402
from graco_jax.errors import InputError  # noqa: E402
from graco_jax.model import model_config  # noqa: E402
from graco_jax.training.defaults import train_fields  # noqa: E402

H, W = 24, 32


def _png(array):
  buffer = io.BytesIO()
  Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(buffer, format="PNG")
  return buffer.getvalue()  # encoded here: TFDS encodes numpy images with TensorFlow


def _scene(i):
  """Image i: a big thing (id 11) with a small thing (id 12) on it, a stuff segment (id 13,
  label 90), a crowd region (id 14); returns (image, id map, objects)."""
  rng = np.random.default_rng(i)
  image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
  ids = np.zeros((H, W), np.int64)
  ids[2:20, 2:20] = 11 + 100 * i
  ids[8:12, 8:12] = 12 + 100 * i
  ids[20:, :] = 13 + 100 * i
  ids[0:4, 24:30] = 14 + 100 * i
  objects = [(11 + 100 * i, 3, False), (12 + 100 * i, 40, False), (13 + 100 * i, 90, False),
             (14 + 100 * i, 0, True)]
  return image, ids, objects


def _box():
  return tfds.features.BBox(0.1, 0.1, 0.5, 0.5)


with tfds.core.registered.skip_registration():

  class Coco(tfds.core.GeneratorBasedBuilder):
    """The feature layout of TFDS coco/2017_panoptic (`tensorflow_datasets/object_detection/coco.py`)."""
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="2017_panoptic")]
    VERSION = tfds.core.Version("1.1.0")

    def _info(self):
      return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
          "image": tfds.features.Image(encoding_format="png"),
          "image/filename": tfds.features.Text(),
          "image/id": np.int64,
          "panoptic_image": tfds.features.Image(encoding_format="png"),
          "panoptic_image/filename": tfds.features.Text(),
          "panoptic_objects": tfds.features.Sequence({
              "id": np.int64, "area": np.int64, "bbox": tfds.features.BBoxFeature(),
              "label": tfds.features.ClassLabel(num_classes=133), "is_crowd": np.bool_}),
      }))

    def _split_generators(self, dl_manager):
      return {"train": self._generate_examples(range(3)),
              "validation": self._generate_examples(range(3, 5))}

    def _generate_examples(self, indices):
      for i in indices:
        image, ids, objects = _scene(i)
        rgb = np.stack([ids % 256, ids // 256 % 256, ids // 65536], -1).astype(np.uint8)
        yield i, {"image": _png(image), "image/filename": f"{i}.jpg", "image/id": i,
                  "panoptic_image": _png(rgb), "panoptic_image/filename": f"{i}.png",
                  "panoptic_objects": [
                      {"id": o, "area": int((ids == o).sum()), "bbox": _box(), "label": label,
                       "is_crowd": crowd} for o, label, crowd in objects]}

  class Lvis(tfds.core.GeneratorBasedBuilder):
    """The feature layout of TFDS lvis (`tensorflow_datasets/datasets/lvis`)."""
    VERSION = tfds.core.Version("1.4.0")

    def _info(self):
      return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
          "image": tfds.features.Image(encoding_format="png"),
          "image/id": np.int64,
          "objects": tfds.features.Sequence({
              "id": np.int64, "area": np.int64, "bbox": tfds.features.BBoxFeature(),
              "label": tfds.features.ClassLabel(num_classes=1203),
              "segmentation": tfds.features.Image(shape=(None, None, 1))}),
      }))

    def _split_generators(self, dl_manager):
      return {"validation": self._generate_examples()}

    def _generate_examples(self):
      image, ids, _ = _scene(7)
      masks = [ids == 711, (ids == 711) | (ids == 712)]  # LVIS masks may overlap
      yield 7, {"image": _png(image), "image/id": 7, "objects": [
          {"id": 5 + k, "area": int(m.sum()), "bbox": _box(), "label": 1,
           "segmentation": _png((m * 255).astype(np.uint8)[..., None])}
          for k, m in enumerate(masks)]}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  root = str(tmp_path_factory.mktemp("tfds"))
  for builder in (Coco(config="2017_panoptic", data_dir=root, file_format="array_record"),
                  Lvis(data_dir=root, file_format="array_record")):
    builder.download_and_prepare()
  return root


def _check_train_record(record):  # the contract of SBDTrainSource / SceneInstances records
  assert set(record) == {"image", "mask", "instances", "image_id", "object_id", "granularity"}
  assert record["image"].dtype == np.uint8 and record["image"].shape == (H, W, 3)
  assert record["mask"].dtype == np.int8 and record["instances"].dtype == np.int32
  np.testing.assert_array_equal(record["mask"], (record["instances"] > 0).astype(np.int8))
  assert isinstance(record["image_id"], str) and record["object_id"] == -1
  assert record["granularity"].dtype == np.float32 and record["granularity"] == 1.0


def _check_eval_record(record):  # the contract of the evaluation sources (test_eval_sources)
  assert record["image"].dtype == np.uint8 and record["image"].shape == (H, W, 3)
  assert record["mask"].dtype == np.int8 and record["mask"].shape == (H, W)
  assert set(np.unique(record["mask"])) == {0, 1}
  assert isinstance(record["image_id"], str) and isinstance(record["object_id"], int)
  assert record["granularity"].dtype == np.float32


def test_panoptic_images_hold_things_without_stuff_or_crowd(data_dir):
  source = tfds_coco.TFDSInstanceImages("coco/2017_panoptic", "train", data_dir)
  assert len(source) == 3
  for i in range(3):
    record = source[i]
    _check_train_record(record)
    image, ids, _ = _scene(int(record["image_id"]))
    np.testing.assert_array_equal(record["image"], image)
    expected = np.where(ids == 11 + 100 * int(record["image_id"]), 1, 0)
    expected[ids == 12 + 100 * int(record["image_id"])] = 2  # only the two things
    np.testing.assert_array_equal(record["instances"], expected)
  assert "tensorflow" not in sys.modules


def test_panoptic_eval_lists_one_record_per_thing(data_dir):
  source = tfds_coco.TFDSInstanceSource("coco/2017_panoptic", "validation", data_dir)
  assert len(source) == 4  # 2 images x 2 things
  seen = set()
  for i in range(len(source)):
    record = source[i]
    _check_eval_record(record)
    _, ids, _ = _scene(int(record["image_id"]))
    np.testing.assert_array_equal(record["mask"], (ids == record["object_id"]).astype(np.int8))
    seen.add(record["object_id"])
  assert seen == {311, 312, 411, 412}
  assert len(tfds_coco.TFDSInstanceSource("coco/2017_panoptic", "validation", data_dir,
                                          min_area=17)) == 2  # the 4x4 things drop out


def test_lvis_masks_overlap_and_the_smaller_stays_visible(data_dir):
  _, ids, _ = _scene(7)
  evaluation = tfds_coco.TFDSInstanceSource("lvis", "validation", data_dir)
  assert len(evaluation) == 2
  for k in range(2):
    _check_eval_record(evaluation[k])
  np.testing.assert_array_equal(evaluation[0]["mask"], ids == 711)
  np.testing.assert_array_equal(evaluation[1]["mask"], (ids == 711) | (ids == 712))
  assert [evaluation[k]["object_id"] for k in range(2)] == [5, 6]
  record = tfds_coco.TFDSInstanceImages("lvis", "validation", data_dir)[0]
  _check_train_record(record)
  expected = np.where(ids == 711, 1, 0)
  expected[ids == 712] = 2  # painted largest first: the small object is not covered
  np.testing.assert_array_equal(record["instances"], expected)


def test_registries_build_tfds_sources_and_the_pipeline_batches_them(data_dir):
  config = ml_collections.ConfigDict()
  config.model = model_config("tiny", granularity=False, lora_rank=0, crop_size=32)
  train_fields(config)
  config.data.update({"source": "tfds:coco/2017_panoptic", "path": data_dir, "num_threads": 1,
                      "prefetch": 1})
  config.data.sampler.min_object_area = 4
  config.train.max_num_points = 2
  source = registry.build_source(config.data)
  assert isinstance(source, tfds_coco.TFDSInstanceImages) and len(source) == 3
  batch = next(iter(pipeline.make_train_dataset(source, config, batch_size=2, seed=0)))
  assert batch["image"].shape == (2, 32, 32, 3) and batch["mask"].shape == (2, 32, 32)
  assert (batch["mask"] == 1).any(axis=(1, 2)).all()
  evaluation = registry.eval_source("tfds:coco/2017_panoptic", data_dir, "validation[:1]")
  assert len(evaluation) == 2


def test_missing_dataset_and_box_only_layout_are_named(data_dir, tmp_path):
  with pytest.raises(FileNotFoundError, match="tfds build coco/2017 --file_format=array_record"):
    tfds_coco.TFDSInstanceImages("coco/2017", "train", str(tmp_path))
  with pytest.raises(InputError, match="boxes only"):
    tfds_coco.object_masks({"image": np.zeros((2, 2, 3), np.uint8),
                            "objects": {"bbox": np.zeros((1, 4)), "label": [0]}}, "coco/2017")
