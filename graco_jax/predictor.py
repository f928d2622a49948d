"""The one predictor: a network plus the inference protocol around it, for every consumer.

The NoC protocol (evaluation.noc), AGG (agg.generate), `graco-jax segment` and the demo all take
a `Predictor`. It is a frozen dataclass hashable by value (the network is a bound `Module.apply`,
and flax modules compare by their fields), so it is a static jit argument: two predictors built
from equal model configs and settings share one compiled program, and nothing is keyed on the
identity of a wrapper function. The variables travel beside it as a jit argument.

Two protocols:
- `plain(network, variables)`: the network sees the image as given (training's click loop,
  AGG, the quickstart at its 128-pixel crop);
- `zoom_in_flip(network, variables)`: the official evaluation transforms (interaction/zoom.py):
  the first click sees the whole image, later ones a box around the object resized to the
  crop, logits averaged with the horizontal flip, probabilities pasted back.

`apply(variables, images [B,H,W,3], clicks, prev_probs [B,H,W,1], granularity [B] | None, state)
-> (probs [B,H,W,1], state)`; `init(images, sizes [B,2])` gives the per-instance state (the
zoom-in box), every leaf batch-leading so a finished instance keeps it under a mask.
"""

import dataclasses
import functools
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

from graco_jax.interaction import zoom
from graco_jax.model import create_model


# On the CPU, crops larger than 256 x 256 pixels go through the network this many at a time
# (lax.map over chunks), as the activations of a larger batch outgrow the cache: on a 2-core AMD
# EPYC the 16 flip-doubled crops of 8 slots at 448 took 484 ms as one batch and 420 ms as two
# chunks, with the same logits. Chunks of 4 gained nothing more on GrabCut.
CPU_CHUNK_PIXELS = 256 * 256
CPU_CHUNK = 8


@dataclasses.dataclass(frozen=True)
class ZoomIn:
  """Official `ZoomIn` settings (DAVIS uses target_size 672)."""
  target_size: tuple = (448, 448)
  expansion_ratio: float = 1.4
  min_crop_size: int = 200
  recompute_thresh_iou: float = 0.5
  prob_thresh: float = 0.5


@dataclasses.dataclass(frozen=True)
class Predictor:
  """network(variables, images, clicks, prev_probs, granularity) -> logits (or probabilities when
  `outputs == 'probs'`, for hand-written predictors in tests and benchmarks)."""
  network: Callable
  outputs: str = "logits"
  zoom_in: Optional[ZoomIn] = None
  with_flip: bool = False
  variables: Any = dataclasses.field(default=(), compare=False, repr=False)

  def __post_init__(self):
    if self.outputs not in ("logits", "probs"):
      raise ValueError(f"outputs must be 'logits' or 'probs', got {self.outputs!r}")
    if self.outputs == "probs" and self.with_flip:
      raise ValueError("flip averaging averages logits: the network must return logits")

  @property
  def stateless(self) -> bool:
    return self.zoom_in is None

  def static(self) -> "Predictor":
    """This predictor without its variables: the hashable half that a jit takes as static."""
    return dataclasses.replace(self, variables=())

  def init(self, images, sizes):
    if self.zoom_in is None:
      return ()
    batch, height, width = images.shape[:3]
    return dict(roi=jnp.zeros((batch, 4), jnp.int32), has_roi=jnp.zeros((batch,), bool),
                mask=jnp.zeros((batch, height, width), bool), sizes=jnp.asarray(sizes, jnp.int32))

  def apply(self, variables, images, clicks, prev_probs, granularity, state):
    if self.zoom_in is None:
      flipped = zoom.flip_clicks(clicks, images.shape[2]) if self.with_flip else None
      return self._network_probs(variables, images, clicks, prev_probs, granularity,
                                 flipped), state
    return self._zoom_in_apply(variables, images, clicks, prev_probs, granularity, state)

  def probs(self, variables, images, clicks, prev_probs, granularity=None):
    """The stateless form `(images, clicks, prev_probs, granularity) -> probs` (plain only)."""
    if self.zoom_in is not None:
      raise ValueError("the zoom-in protocol keeps a per-instance box: use init/apply")
    return self.apply(variables, images, clicks, prev_probs, granularity, ())[0]

  def _network_logits(self, variables, images, clicks, flipped_clicks, prev_probs, granularity):
    if not self.with_flip:
      return self._chunked_network(variables, images, clicks, prev_probs, granularity)
    batch = images.shape[0]
    both = lambda x: jnp.concatenate([x, x[:, :, ::-1]], axis=0)
    clicks = jax.tree.map(lambda u, v: jnp.concatenate([u, v], axis=0), clicks, flipped_clicks)
    if granularity is not None:
      granularity = jnp.concatenate([granularity, granularity], axis=0)
    logits = self._chunked_network(variables, both(images), clicks, both(prev_probs),
                                   granularity)
    return 0.5 * (logits[:batch] + logits[batch:, :, ::-1])

  def _chunked_network(self, variables, images, clicks, prev_probs, granularity):
    """The network's float32 logits; on the CPU, large crops `CPU_CHUNK` at a time."""
    batch, height, width = images.shape[:3]
    if (jax.default_backend() != "cpu" or height * width <= CPU_CHUNK_PIXELS
        or batch <= CPU_CHUNK or batch % CPU_CHUNK):
      return self.network(variables, images, clicks, prev_probs, granularity).astype(jnp.float32)
    chunks = lambda x: x.reshape((batch // CPU_CHUNK, CPU_CHUNK) + x.shape[1:])
    inputs = jax.tree.map(chunks, (images, clicks, prev_probs, granularity))
    logits = jax.lax.map(
        lambda x: self.network(variables, *x).astype(jnp.float32), inputs)
    return logits.reshape((batch,) + logits.shape[2:])

  def _network_probs(self, variables, images, clicks, prev_probs, granularity,
                     flipped_clicks=None):
    """flipped_clicks: the clicks in the horizontally flipped image (with_flip only)."""
    if self.outputs == "probs":
      return self.network(variables, images, clicks, prev_probs, granularity)
    return jax.nn.sigmoid(self._network_logits(variables, images, clicks, flipped_clicks,
                                               prev_probs, granularity))

  def _zoom_in_apply(self, variables, images, clicks, prev_probs, granularity, state):
    z = self.zoom_in
    height, width = images.shape[1:3]
    sizes = state["sizes"]
    tables = (zoom._half_extent_table(height, z.expansion_ratio, z.min_crop_size),
              zoom._half_extent_table(width, z.expansion_ratio, z.min_crop_size))
    whole = jnp.stack([jnp.zeros_like(sizes[:, 0]), sizes[:, 0] - 1,
                       jnp.zeros_like(sizes[:, 1]), sizes[:, 1] - 1], axis=1)
    has_mask = jnp.any(state["mask"], axis=(1, 2))
    current = jnp.where(has_mask[:, None], zoom.object_roi(state["mask"], clicks, sizes, tables),
                        whole)
    update = (~state["has_roi"] | zoom._clicks_outside(state["roi"], clicks)
              | zoom._box_iou_below(current, state["roi"], z.recompute_thresh_iou))
    roi = jnp.where(update[:, None], current, state["roi"])

    inputs = jnp.concatenate([images, prev_probs.astype(images.dtype)], axis=-1)
    crop = zoom.crop_and_resize(inputs, roi, tuple(z.target_size))
    crop_clicks = zoom.transform_clicks(clicks, roi, tuple(z.target_size))
    flipped = (zoom.transform_clicks(clicks, roi, tuple(z.target_size), flip=True)
               if self.with_flip else None)
    probs = self._network_probs(variables, crop[..., :3], crop_clicks, crop[..., 3:], granularity,
                                flipped)
    probs = zoom.paste_back(probs, roi, height, width)
    new_state = dict(roi=roi, has_roi=jnp.ones_like(state["has_roi"]),
                     mask=probs[..., 0] > z.prob_thresh, sizes=sizes)
    return probs, new_state


@dataclasses.dataclass(frozen=True)
class _WithoutVariables:
  """Adapts `fn(images, clicks, prev_probs, granularity)` to the network signature; hashable by
  the function, so one function compiles once."""
  fn: Callable

  def __call__(self, variables, images, clicks, prev_probs, granularity):
    del variables
    return self.fn(images, clicks, prev_probs, granularity)


def plain(network: Callable, variables=()) -> Predictor:
  """The network on the image as given, e.g. `plain(model.apply, variables)`."""
  return Predictor(network=network, variables=variables)


def zoom_in_flip(network: Callable, variables=(), *, target_size=(448, 448), with_flip=True,
                 expansion_ratio=1.4, min_crop_size=200, recompute_thresh_iou=0.5,
                 prob_thresh=0.5) -> Predictor:
  """The official evaluation predictor: zoom-in + horizontal-flip averaging around `network`
  (built at crop size `target_size`), e.g. `zoom_in_flip(model.apply, variables)`."""
  settings = ZoomIn(tuple(target_size), expansion_ratio, min_crop_size, recompute_thresh_iou,
                    prob_thresh)
  return Predictor(network=network, zoom_in=settings, with_flip=with_flip, variables=variables)


def from_probs_fn(predict_fn: Callable) -> Predictor:
  """A hand-written stateless `predict_fn(images, clicks, prev_probs, granularity) -> probs`."""
  return Predictor(network=_WithoutVariables(predict_fn), outputs="probs")


PROTOCOLS = ("plain", "zoom_in_flip")


def for_model(model_config, variables, protocol: str = "zoom_in_flip", **zoom_kwargs) -> Predictor:
  """The predictor of a graco_jax segmenter: 'zoom_in_flip' (the benchmark protocol, crops at
  the model's crop size unless target_size is given) or 'plain'."""
  network = create_model(model_config).apply
  if protocol == "plain":
    return plain(network, variables)
  if protocol == "zoom_in_flip":
    zoom_kwargs.setdefault("target_size", tuple(model_config.crop_size))
    return zoom_in_flip(network, variables, **zoom_kwargs)
  raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")


def as_predictor(predictor) -> Predictor:
  """A Predictor as it is, or a stateless probabilities function wrapped by `from_probs_fn`."""
  return predictor if isinstance(predictor, Predictor) else from_probs_fn(predictor)


@functools.partial(jax.jit, static_argnames="predictor")
def predict_step(variables, images, clicks, prev_probs, granularity, state, *,
                 predictor: Predictor):
  """One click of an interactive session, jitted: `predictor.apply` (static predictor)."""
  return predictor.apply(variables, images, clicks, prev_probs, granularity, state)
