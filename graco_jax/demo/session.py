"""One annotation session: an image, its clicks, and the masks of every granularity bin.

The granularity reaches a GraCo model only as an embedding index (`granularity_index`: 10 bins),
so the 10 masks of one click sequence are all the model can say. Each click runs the 10 bins as
one batched forward of the evaluation predictor (zoom-in + flip): instance k is its own
trajectory (its previous mask, its zoom-in box) at granularity `GRANULARITY_BINS[k]`, i.e.
exactly `segment_image(..., granularity=GRANULARITY_BINS[k])`. A slider move then only picks a
cached mask. A model without granularity (SimpleClick) runs one instance.

Undo pops the cache of the last click (no forward); reset drops every click.
"""

import io
import time

import jax.numpy as jnp
import numpy as np
from PIL import Image, UnidentifiedImageError

from graco_jax import predictor as predictor_lib
from graco_jax.errors import InputError
from graco_jax.interaction.clicks import add_click, empty_clicks
from graco_jax.model.vit import NUM_GRANULARITY_BINS, granularity_index
from graco_jax.segment import CLICK_CAPACITY

# One value per embedding index: granularity_index(GRANULARITY_BINS[k]) == k.
GRANULARITY_BINS = tuple(round(0.1 * (k + 1), 1) for k in range(NUM_GRANULARITY_BINS))
MAX_PIXELS = 2_500_000  # ten trajectories of float32 maps; about a 1920x1300 photo


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
  """Uploaded bytes -> RGB float32 [H, W, 3] in [0, 1]; the size is checked before decoding."""
  try:
    with Image.open(io.BytesIO(data)) as image:
      width, height = image.size
      if width * height > max_pixels:
        raise InputError(f"the image is {width}x{height} = {width * height:,} pixels; the demo "
                         f"takes at most {max_pixels:,} (graco-jax demo --max-pixels N)")
      array = np.asarray(image.convert("RGB"), np.float32) / 255.0
  except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
    raise InputError(f"the uploaded file is not a readable image ({error})") from None
  if array.size == 0:
    raise InputError("the uploaded image is empty")
  return array


def bin_index(granularity: float) -> int:
  """The cache slot of a granularity in (0, 1]: the model's own embedding index."""
  granularity = float(granularity)
  if not 0.0 < granularity <= 1.0:
    raise InputError(f"granularity {granularity} is outside (0, 1]")
  return int(granularity_index(granularity))


def rle(mask: np.ndarray) -> dict:
  """COCO RLE of a bool [H, W] mask, counts as a string (JSON-ready)."""
  from pycocotools import mask as mask_utils
  encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
  return {"size": [int(s) for s in encoded["size"]], "counts": encoded["counts"].decode("ascii")}


class Session:
  """State of one image being annotated. Not thread-safe: the server holds a lock around it."""

  def __init__(self, predictor: predictor_lib.Predictor, use_granularity: bool,
               max_clicks: int = CLICK_CAPACITY, threshold: float = 0.5):
    self.predictor = predictor
    self.use_granularity = use_granularity
    self.granularities = GRANULARITY_BINS if use_granularity else (None,)
    self.max_clicks = max_clicks
    self.threshold = threshold
    self.forwards = 0  # batched forward passes run so far (one per click)
    self._compiled_shapes = set()
    self.image = None
    self.clicks = []
    self._history = []  # per click: (click_set, probs [N, H, W, 1], zoom state)
    self.last_latency_s = None
    self.last_included_compile = False

  @property
  def num_instances(self) -> int:
    return len(self.granularities)

  def set_image(self, image: np.ndarray) -> None:
    """image: float [H, W, 3] in [0, 1]. Drops the clicks of the previous image."""
    image = np.asarray(image, np.float32)
    if image.ndim != 3 or image.shape[2] != 3:
      raise InputError(f"expected an RGB image [H, W, 3], got shape {image.shape}")
    self.image = image
    height, width = image.shape[:2]
    n = self.num_instances
    self._images = jnp.broadcast_to(jnp.asarray(image)[None], (n, height, width, 3))
    self._granularity = (jnp.asarray(self.granularities, jnp.float32) if self.use_granularity
                         else None)
    self._initial = (empty_clicks(n, self.max_clicks), jnp.zeros((n, height, width, 1)),
                     self.predictor.init(self._images, jnp.tile(jnp.asarray([[height, width]],
                                                                          jnp.int32), (n, 1))))
    self.reset()

  def reset(self) -> None:
    self.clicks, self._history = [], []
    self.last_latency_s = None

  def undo(self) -> None:
    if self.clicks:
      self.clicks.pop()
      self._history.pop()

  def click(self, y: int, x: int, positive: bool) -> float:
    """Adds a click and runs the batched forward of every bin; returns its seconds."""
    if self.image is None:
      raise InputError("open an image first")
    height, width = self.image.shape[:2]
    if not (0 <= y < height and 0 <= x < width):
      raise InputError(f"click ({y}, {x}) lies outside the {height}x{width} image")
    if len(self.clicks) >= self.max_clicks:
      raise InputError(f"at most {self.max_clicks} clicks per object: undo or reset")
    click_set, probs, state = self._history[-1] if self._history else self._initial
    n = self.num_instances
    click_set = add_click(click_set, jnp.full((n,), y), jnp.full((n,), x),
                          jnp.full((n,), bool(positive)))
    shape = self.image.shape
    start = time.perf_counter()
    probs, state = predictor_lib.predict_step(
        self.predictor.variables, self._images, click_set, probs, self._granularity, state,
        predictor=self.predictor.static())
    probs.block_until_ready()
    self.last_latency_s = time.perf_counter() - start
    self.last_included_compile = shape not in self._compiled_shapes
    self._compiled_shapes.add(shape)
    self.forwards += 1
    self.clicks.append((int(y), int(x), bool(positive)))
    self._history.append((click_set, probs, state))
    return self.last_latency_s

  def probabilities(self, granularity=None) -> np.ndarray:
    """Foreground probabilities [H, W] after the clicks so far (zeros before the first)."""
    if self.image is None:
      raise InputError("open an image first")
    index = 0
    if self.use_granularity:
      if granularity is None:
        raise InputError("this model takes a granularity in (0, 1]")
      index = bin_index(granularity)
    if not self._history:
      return np.zeros(self.image.shape[:2], np.float32)
    return np.asarray(self._history[-1][1][index, ..., 0])

  def mask(self, granularity=None) -> np.ndarray:
    """bool [H, W], the mask `graco-jax segment` writes for these clicks and granularity."""
    return self.probabilities(granularity) > self.threshold

  def masks(self) -> np.ndarray:
    """bool [N, H, W]: the mask of every bin (one for SimpleClick)."""
    if not self._history:
      return np.zeros((self.num_instances, *self.image.shape[:2]), bool)
    return np.asarray(self._history[-1][1][..., 0]) > self.threshold
