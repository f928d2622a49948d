"""`graco-jax segment`: one image, a few clicks and a granularity -> a mask PNG.

Clicks are applied one after another, each prediction becoming the previous mask of the next,
as an annotator would use the tool, through the evaluation protocol's predictor (zoom-in on the
object after the first click, horizontal-flip averaging: `predictor.zoom_in_flip`). For the same
clicks and granularity the mask equals the one `run_click_protocol` scores.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from graco_jax import io
from graco_jax import config_utils, predictor as predictor_lib
from graco_jax.data import image_io
from graco_jax.errors import InputError
from graco_jax.interaction.clicks import add_click, empty_clicks
from graco_jax.model import init_params

# One compiled program for any number of clicks up to this, shared with the demo. It matters for
# equality too: XLA compiles the zoom-in click transform of a 1-slot click set differently (a
# flipped click lands one float32 ulp away), which moves pixels on a disk's edge.
CLICK_CAPACITY = 24


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--config", required=True, help="model config file (configs/*.py[:arg])")
  parser.add_argument("--image", help="input image; without it a generated test image is used "
                      "and saved next to --out as input.png")
  parser.add_argument("--click", action="append", required=True, metavar="Y,X,+|-",
                      help="a click in image pixels, repeatable, in order")
  parser.add_argument("--granularity", type=float, default=None,
                      help="granularity in (0, 1]; omit for a model without granularity")
  parser.add_argument("--out", required=True, help="output mask PNG (255 foreground)")
  parser.add_argument("--checkpoint", help="checkpoint directory; random init without it")
  parser.add_argument("--seed", type=int, default=0, help="seed of the random init")
  parser.add_argument("--threshold", type=float, default=0.5)


def parse_click(text: str):
  parts = text.split(",")
  if len(parts) != 3 or parts[2] not in ("+", "-"):
    raise InputError(f"click {text!r} is not of the form Y,X,+ or Y,X,-")
  return int(parts[0]), int(parts[1]), parts[2] == "+"


def generated_image(height: int = 320, width: int = 480) -> np.ndarray:
  """A smooth background with two shaded ellipses: enough structure for a demo run."""
  yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
  image = np.stack([0.3 + 0.2 * xx / width, 0.4 + 0.1 * yy / height,
                    np.full_like(xx, 0.5)], axis=-1)
  for cy, cx, ry, rx, colour in [(160, 200, 90, 120, (0.9, 0.3, 0.2)),
                                  (130, 330, 50, 60, (0.2, 0.7, 0.3))]:
    inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    shade = 0.8 + 0.2 * (1 - (yy - cy + ry) / (2 * ry))
    image[inside] = np.asarray(colour) * shade[inside, None]
  return np.clip(image, 0, 1)


def check_clicks(clicks, height: int, width: int) -> None:
  for y, x, _ in clicks:
    if not (0 <= y < height and 0 <= x < width):
      raise InputError(f"click ({y}, {x}) lies outside the {height}x{width} image")


def segment_image(predictor, image: np.ndarray, clicks, granularity=None):
  """Returns foreground probabilities [H, W] after applying `clicks` [(y, x, positive)] in order.

  image: [H, W, 3] float in [0, 1]; predictor: a `Predictor` (its variables travel with it).
  """
  height, width, _ = image.shape
  check_clicks(clicks, height, width)
  images = jnp.asarray(image, jnp.float32)[None]
  state = predictor.init(images, jnp.asarray([[height, width]], jnp.int32))
  click_set = empty_clicks(1, max(len(clicks), CLICK_CAPACITY))
  probs = jnp.zeros((1, height, width, 1), jnp.float32)
  gra = None if granularity is None else jnp.asarray([granularity], jnp.float32)
  for y, x, positive in clicks:
    click_set = add_click(click_set, jnp.asarray([y]), jnp.asarray([x]), jnp.asarray([positive]))
    probs, state = predictor_lib.predict_step(predictor.variables, images, click_set, probs, gra,
                                              state, predictor=predictor.static())
  return np.asarray(probs[0, ..., 0])


def run(args) -> int:
  config = config_utils.load_config(args.config, args.config_overrides)
  if args.granularity is not None and not (0.0 < args.granularity <= 1.0):
    raise InputError(f"granularity {args.granularity} is outside (0, 1]")
  # Validate the cheap inputs before building the model.
  clicks = [parse_click(c) for c in args.click]
  image = image_io.read_image(args.image) if args.image else generated_image()
  check_clicks(clicks, *image.shape[:2])
  if args.checkpoint:
    from graco_jax.checkpoints import load_for_inference
    model_config, params = load_for_inference(args.checkpoint)
  else:
    model_config = config.model
    params = init_params(model_config, jax.random.PRNGKey(args.seed))
  if args.granularity is not None and not model_config.use_granularity:
    raise InputError("this model has no granularity embedding; drop --granularity")
  if not args.image:
    image_io.write_png(io.join(io.dirname(io.abspath(args.out)), "input.png"),
                       np.round(image * 255))
  probs = segment_image(predictor_lib.for_model(model_config, params), image, clicks,
                        args.granularity)
  mask = probs > args.threshold
  image_io.write_png(args.out, mask.astype(np.uint8) * 255)
  print(f"wrote {args.out}: {int(mask.sum())} of {mask.size} pixels foreground "
        f"({len(clicks)} clicks, granularity {args.granularity})")
  return 0
