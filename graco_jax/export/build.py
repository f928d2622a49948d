"""`graco-jax export`: a checkpoint -> a `jax.export` artifact plus its JSON sidecar.

The exported function is the predictor's network step on plain arrays (no ClickSet, no flax):
  image [B, H, W, 3] float32 in [0, 1], coords [B, K, 2] float32 (y, x), is_positive [B, K]
  bool, valid [B, K] bool, prev_probs [B, H, W, 1] float32, granularity [B] float32
  -> probabilities [B, H, W, 1] (variant "all": no granularity input, [B, 10, H, W, 1]).
B is symbolic unless `--batch` fixes it; the weights are constants inside the StableHLO, so the
artifact alone is the model. Load it with `graco_jax.export.load`.
"""

import argparse
import functools
import hashlib
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

import graco_jax
from graco_jax import io
from graco_jax import predictor as predictor_lib
from graco_jax.errors import InputError
from graco_jax.export import FORMAT, sidecar_path
from graco_jax.interaction.clicks import ClickSet
from graco_jax.model import GRANULARITY_BINS

# The official evaluation sweep: one value per embedding bin (bin i <- granularity (i + 1) / 10).
PLATFORMS = ("cpu", "cuda", "rocm", "tpu")


def params_fingerprint(variables) -> str:
  """SHA-256 over every leaf's tree path, dtype, shape and bytes: names the weights exported."""
  digest = hashlib.sha256()
  leaves = jax.tree_util.tree_leaves_with_path(variables)
  for path, leaf in sorted(leaves, key=lambda item: jax.tree_util.keystr(item[0])):
    array = np.ascontiguousarray(np.asarray(leaf))
    digest.update(f"{jax.tree_util.keystr(path)}|{array.dtype}|{array.shape}|".encode())
    digest.update(array.tobytes())
  return "sha256:" + digest.hexdigest()


def network_step(model_config, variables, granularities: str):
  """The exported function on plain arrays; `granularities` is 'input', 'all' or 'none'."""
  predict_fn = functools.partial(predictor_lib.for_model(model_config, (), "plain").probs, variables)

  def step(image, coords, is_positive, valid, prev_probs, granularity=None):
    return predict_fn(image, ClickSet(coords, is_positive, valid), prev_probs, granularity)

  if granularities != "all":
    return step

  def all_bins(image, coords, is_positive, valid, prev_probs):
    # One call of batch B * 10: every instance repeated once per bin, bins fastest.
    bins = len(GRANULARITY_BINS)
    repeat = lambda x: jnp.repeat(x, bins, axis=0)
    batch = image.shape[0]
    granularity = jnp.tile(jnp.asarray(GRANULARITY_BINS, jnp.float32), batch)
    probs = step(repeat(image), repeat(coords), repeat(is_positive), repeat(valid),
                 repeat(prev_probs), granularity)
    return probs.reshape((batch, bins) + probs.shape[1:])

  return all_bins


def input_specs(model_config, granularities: str, batch=None, size=None, capacity: int = 24):
  """[(name, jax.ShapeDtypeStruct)] of the exported inputs; batch None = symbolic 'batch'."""
  (b,) = jax.export.symbolic_shape("batch") if batch is None else (batch,)
  h, w = tuple(size or model_config.crop_size)
  specs = [
      ("image", (b, h, w, 3), jnp.float32),
      ("coords", (b, capacity, 2), jnp.float32),
      ("is_positive", (b, capacity), jnp.bool_),
      ("valid", (b, capacity), jnp.bool_),
      ("prev_probs", (b, h, w, 1), jnp.float32),
  ]
  if granularities == "input":
    specs.append(("granularity", (b,), jnp.float32))
  return [(name, jax.ShapeDtypeStruct(shape, dtype)) for name, shape, dtype in specs]


def check_options(model_config, granularities: str, batch, size, capacity, platforms) -> None:
  if granularities not in ("input", "all", "none"):
    raise InputError(f"granularities {granularities!r}: choose 'input', 'all' or 'none'")
  if model_config.use_granularity and granularities == "none":
    raise InputError("this model has a granularity embedding; export 'input' or 'all'")
  if not model_config.use_granularity and granularities != "none":
    raise InputError("this model has no granularity embedding; drop --granularities")
  if batch is not None and batch < 1:
    raise InputError(f"batch {batch} must be at least 1 (or 'dynamic')")
  if capacity < 1:
    raise InputError(f"click capacity {capacity} must be at least 1")
  window = model_config.window_size  # attention windows must tile the token grid
  if size is not None and (len(size) != 2 or any(s < window or s % window for s in size)):
    raise InputError(f"size {size}: height and width must be multiples of the attention "
                     f"window, {window} pixels")
  unknown = [p for p in platforms if p not in PLATFORMS]
  if unknown or not platforms:
    raise InputError(f"platforms {list(platforms)}: choose from {', '.join(PLATFORMS)}")


def export_predictor(model_config, variables, granularities: str | None = None, batch=None,
                     size=None, capacity: int = 24, platforms=("cpu",)):
  """(jax.export.Exported, sidecar dict without the artifact hash) of one predictor."""
  if granularities is None:
    granularities = "input" if model_config.use_granularity else "none"
  platforms = tuple(platforms)
  check_options(model_config, granularities, batch, size, capacity, platforms)
  specs = input_specs(model_config, granularities, batch, size, capacity)
  fn = jax.jit(network_step(model_config, variables, granularities))
  exported = jax.export.export(fn, platforms=platforms)(*(s for _, s in specs))
  spec_json = lambda name, s: {"name": name, "dtype": str(s.dtype),
                               "shape": [d if isinstance(d, int) else str(d) for d in s.shape]}
  meta = {
      "format": FORMAT,
      "graco_jax_version": graco_jax.__version__,
      "jax_version": jax.__version__,
      "granularity": granularities,
      "granularity_values": list(GRANULARITY_BINS) if granularities == "all" else None,
      "platforms": list(exported.platforms),
      "inputs": [spec_json(name, s) for name, s in specs],
      "outputs": [spec_json("probs", a) for a in exported.out_avals],
      "model_config": model_config.to_dict(),
      "params_fingerprint": params_fingerprint(variables),
  }
  return exported, meta


def write_export(path: str, exported, meta: dict) -> dict:
  """Writes the artifact and then its sidecar (with the artifact's SHA-256); returns the sidecar."""
  blob = bytes(exported.serialize())
  meta = dict(meta, artifact_sha256=hashlib.sha256(blob).hexdigest(), artifact_bytes=len(blob))
  io.atomic_write_bytes(path, blob)
  text = json.dumps(meta, indent=2, sort_keys=True, default=list)
  io.atomic_write_bytes(sidecar_path(path), (text + "\n").encode("utf-8"))
  return meta


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--checkpoint", required=True, help="checkpoint directory (train/import)")
  parser.add_argument("--out", required=True, help="artifact path; NAME.json is written beside it")
  parser.add_argument("--batch", default="dynamic", help="batch size, or 'dynamic' (symbolic)")
  parser.add_argument("--size", help="H,W of the input crop (default: the model's crop size)")
  parser.add_argument("--clicks", type=int, default=24, help="click capacity K")
  parser.add_argument("--platforms", default="cpu", help="comma list of cpu, cuda, rocm, tpu")
  parser.add_argument("--granularities", choices=("input", "all"), default=None,
                      help="'all': no granularity input, masks of all 10 bins in one call "
                      "(default: granularity is an input; for SimpleClick models none)")


def _parse_ints(text: str, what: str) -> tuple:
  try:
    return tuple(int(v) for v in text.split(","))
  except ValueError:
    raise InputError(f"{what} {text!r} is not a comma list of integers") from None


def run(args) -> int:
  from graco_jax.checkpoints import latest_step, load_for_inference
  batch = None if args.batch == "dynamic" else _parse_ints(args.batch, "--batch")[0]
  size = _parse_ints(args.size, "--size") if args.size else None
  platforms = tuple(p.strip() for p in args.platforms.split(",") if p.strip())
  model_config, variables = load_for_inference(args.checkpoint)
  start = time.perf_counter()
  exported, meta = export_predictor(model_config, variables, args.granularities, batch, size,
                                    args.clicks, platforms)
  meta["checkpoint"] = {"path": io.abspath(args.checkpoint),
                        "step": latest_step(args.checkpoint)}
  meta = write_export(args.out, exported, meta)
  print(f"wrote {args.out} ({meta['artifact_bytes'] / 1e6:.1f} MB, granularity "
        f"{meta['granularity']}, platforms {','.join(meta['platforms'])}, inputs "
        f"{', '.join(s['name'] for s in meta['inputs'])}) and {sidecar_path(args.out)} "
        f"in {time.perf_counter() - start:.1f} s")
  return 0
