import numpy as np

from graco_jax.data import transforms


def _scene():
  image = np.zeros((90, 120, 3), np.uint8)
  image[..., 0] = np.arange(120, dtype=np.uint8)[None, :]
  image[..., 1] = np.arange(90, dtype=np.uint8)[:, None]
  labels = np.zeros((90, 120), np.int32)
  labels[20:50, 30:80] = 3
  labels[60:80, 10:30] = 7
  return image, labels


def test_output_has_the_crop_size_and_label_ids_survive():
  image, labels = _scene()
  config = transforms.AugmentConfig(crop_size=(64, 64))
  for seed in range(5):
    out, maps = transforms.augment(image, {"instances": labels}, np.random.default_rng(seed),
                                   config)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert maps["instances"].shape == (64, 64)
    assert set(np.unique(maps["instances"])) <= {0, 3, 7}  # nearest: no blended ids


def test_geometry_moves_image_and_labels_together():
  image, labels = _scene()
  image[labels == 3] = 255  # the object is white in the image
  config = transforms.AugmentConfig(crop_size=(128, 128), photometric=True,
                                    brightness_contrast_prob=0.0, rgb_shift_prob=0.0)
  for seed in range(6):
    out, maps = transforms.augment(image, {"instances": labels}, np.random.default_rng(seed),
                                   config)
    obj = maps["instances"] == 3
    inner = obj & ~np.pad(~obj, 2, constant_values=True)[2:-2, 2:-2]  # away from the border
    for dy in (-2, 0, 2):
      for dx in (-2, 0, 2):
        inner &= np.roll(np.roll(obj, dy, 0), dx, 1)
    assert inner.sum() > 50
    assert (out[inner] == 255).all()


def test_small_images_are_padded_with_zeros_centred():
  image = np.full((20, 30, 3), 200, np.uint8)
  labels = np.ones((20, 30), np.int32)
  config = transforms.AugmentConfig(crop_size=(40, 50), scale_range=(1.0, 1.0),
                                    photometric=False)
  out, maps = transforms.augment(image, {"m": labels}, np.random.default_rng(0), config)
  assert (out[10:30, 10:40] == 200).all() and out[:10].max() == 0 and out[:, :10].max() == 0
  assert maps["m"].sum() == 600


def test_same_seed_same_output():
  image, labels = _scene()
  config = transforms.AugmentConfig(crop_size=(64, 64))
  a = transforms.augment(image, {"i": labels}, np.random.default_rng(3), config)
  b = transforms.augment(image, {"i": labels}, np.random.default_rng(3), config)
  np.testing.assert_array_equal(a[0], b[0])
  np.testing.assert_array_equal(a[1]["i"], b[1]["i"])


def test_flips_and_quarter_turns_without_warp_are_exact_permutations():
  """Scale 1, no rotation: the one composed sampling must give exactly np.flip / np.rot90 of
  the image (no interpolation), the labels the same map."""
  image, labels = _scene()
  config = transforms.AugmentConfig(crop_size=(90, 120), scale_range=(1.0, 1.0),
                                    shift_scale_rotate_prob=0.0, brightness_contrast_prob=0.0,
                                    rgb_shift_prob=0.0)
  seen = set()
  for seed in range(40):
    rng = np.random.default_rng(seed)
    out, maps = transforms.augment(image, {"i": labels}, rng, config)
    # Replay the draws of `augment` to know which flip / turn it made.
    replay = np.random.default_rng(seed)
    replay.uniform(1.0, 1.0)
    expected_image, expected_labels = image, labels
    if replay.random() < 0.5:
      axes = [(1,), (0,), (0, 1)][replay.integers(3)]
      expected_image, expected_labels = np.flip(image, axes), np.flip(labels, axes)
    if replay.random() < 0.5:
      k = int(replay.integers(4))
      expected_image = np.rot90(expected_image, k)
      expected_labels = np.rot90(expected_labels, k)
    if expected_image.shape[:2] != (90, 120):
      continue  # an odd quarter turn: padded and cropped, covered by the tests above
    seen.add(expected_image.tobytes())
    np.testing.assert_array_equal(out, expected_image)
    np.testing.assert_array_equal(maps["i"], expected_labels)
  assert len(seen) >= 3
