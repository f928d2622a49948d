"""The synthetic part world: determinism, a true hierarchy, records of the shared contract."""

import pickle

import numpy as np
import pytest
from scipy import ndimage

from graco_jax.data.sources import synthetic


@pytest.fixture(scope="module")
def scenes():
  return [synthetic.generate_scene(3, "train", i) for i in range(12)]


def test_deterministic_from_seed_split_index():
  a = synthetic.generate_scene(5, "val", 7)
  b = synthetic.generate_scene(5, "val", 7)
  np.testing.assert_array_equal(a.image, b.image)
  np.testing.assert_array_equal(a.masks, b.masks)
  assert a.nodes == b.nodes
  for other in (synthetic.generate_scene(6, "val", 7), synthetic.generate_scene(5, "train", 7),
                synthetic.generate_scene(5, "val", 8)):
    assert not np.array_equal(a.image, other.image)


def test_any_size():
  scene = synthetic.generate_scene(0, "train", 1, height=96, width=160)
  assert scene.image.shape == (96, 160, 3) and scene.image.dtype == np.uint8
  assert scene.masks.shape[1:] == (96, 160)


def test_hierarchy_partitions_each_level(scenes):
  for scene in scenes:
    masks = scene.masks
    objects = scene.level_nodes(0)
    # Objects are disjoint after occlusion and none is empty.
    assert np.max(sum(masks[n.node_id].astype(int) for n in objects)) == 1
    assert all(n.area == masks[n.node_id].sum() > 0 for n in scene.nodes)
    for obj in objects:
      parts = [n for n in scene.nodes if n.parent == obj.node_id]
      assert len(parts) >= 2
      union = np.zeros_like(masks[0], int)
      for part in parts:
        assert part.level == 1 and part.object_id == obj.object_id
        union += masks[part.node_id]
        subs = [n for n in scene.nodes if n.parent == part.node_id]
        if subs:
          sub_union = sum(masks[s.node_id].astype(int) for s in subs)
          np.testing.assert_array_equal(sub_union, masks[part.node_id].astype(int))
      np.testing.assert_array_equal(union, masks[obj.node_id].astype(int))


def test_granularity_rule(scenes):
  for scene in scenes:
    for n in scene.nodes:
      obj_area = scene.nodes[n.object_id].area
      expected = 0.5 * n.area / obj_area + 0.5 * synthetic.LEVEL_VALUE[n.level]
      assert n.granularity == pytest.approx(expected)
      assert 0.0 < n.granularity <= 1.0
      if n.level > 0:
        # A node is never coarser than its parent.
        assert n.granularity < scene.nodes[n.parent].granularity


def test_world_has_thin_detached_and_occluded_parts(scenes):
  thin = detached = occluded = False
  for scene in scenes:
    for n in scene.nodes:
      mask = scene.masks[n.node_id]
      if n.level > 0 and n.area >= 20:
        # Thin: erosion by a 5x5 square (radius 2) removes the whole part.
        thin |= not ndimage.binary_erosion(mask, np.ones((5, 5))).any()
      if n.level == 0:
        detached |= ndimage.label(mask, np.ones((3, 3)))[1] > 1
    labels = scene.instance_map()
    for obj in scene.level_nodes(0):
      # Occluded: some of the object's own leaves were painted over by a later object.
      grown = ndimage.binary_dilation(scene.masks[obj.node_id])
      occluded |= bool(np.any((labels > obj.object_id + 1) & grown))
  assert thin and detached and occluded


def test_parts_differ_in_appearance(scenes):
  """Sibling parts have different mean colours: the part structure is visible, not only given."""
  gaps = []
  for scene in scenes:
    image = scene.image.astype(np.float32)
    for obj in scene.level_nodes(0):
      means = [image[scene.masks[p.node_id]].mean(0) for p in scene.nodes
               if p.parent == obj.node_id and p.area >= 30]
      for i in range(len(means)):
        for j in range(i + 1, len(means)):
          gaps.append(np.abs(means[i] - means[j]).max())
  assert np.median(gaps) > 20  # out of 255


def test_source_records_follow_the_contract():
  source = synthetic.SyntheticSource("part", "val", num_images=6, seed=1)
  scenes = synthetic.SyntheticScenes("val", num_images=6, seed=1)
  assert len(source) > 6
  for i in range(len(source)):
    record = source[i]
    assert set(record) == {"image", "mask", "image_id", "object_id", "granularity"}
    assert record["image"].dtype == np.uint8 and record["image"].shape == (128, 128, 3)
    assert record["mask"].dtype == np.int8 and set(np.unique(record["mask"])) <= {0, 1}
    assert record["mask"].sum() >= 20
    assert record["granularity"].dtype == np.float32
    scene = scenes[int(record["image_id"].split("-")[-1])]
    node = scene.nodes[record["object_id"]]
    assert node.level == 1
    np.testing.assert_array_equal(record["mask"], scene.masks[node.node_id])
    assert record["granularity"] == np.float32(node.granularity)


def test_source_levels_and_errors():
  counts = {level: len(synthetic.SyntheticSource(level, "train", num_images=5))
            for level in ("object", "part", "subpart", "all")}
  assert counts["all"] == counts["object"] + counts["part"] + counts["subpart"]
  objects = synthetic.SyntheticSource("object", "train", num_images=5)
  assert all(objects[i]["granularity"] == 1.0 for i in range(len(objects)))
  with pytest.raises(ValueError, match="level"):
    synthetic.SyntheticSource("pixel")
  with pytest.raises(ValueError, match="split"):
    synthetic.SyntheticScenes("dev")
  with pytest.raises(IndexError, match="out of range"):
    synthetic.SyntheticScenes("val", num_images=3)[3]


def test_scene_cache_returns_the_generated_scene():
  scenes = synthetic.SyntheticScenes("train", num_images=4, seed=3, cache_scenes=2)
  for index in (0, 1, 0, 2, 3, 1):  # hits and evictions
    got, want = scenes[index], synthetic.generate_scene(3, "train", index)
    assert np.array_equal(got.image, want.image) and np.array_equal(got.masks, want.masks)
    assert got.nodes == want.nodes
  assert not scenes[0].image.flags.writeable  # the cached image is shared, never written
  clone = pickle.loads(pickle.dumps(scenes))  # grain worker processes get their own cache
  assert np.array_equal(clone[2].masks, synthetic.generate_scene(3, "train", 2).masks)
