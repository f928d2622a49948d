"""Run a predictor written by `graco-jax export`, with jax alone: no graco-jax model code, no flax.

An export is two files: `NAME` (a `jax.export` serialization, StableHLO with the weights inside)
and `NAME.json` beside it (the inputs' names, shapes and dtypes, the variant, the model config,
the graco-jax version, the checkpoint's fingerprint and the artifact's SHA-256). This module
imports nothing of graco-jax but its errors, so an application can ship it with the two files.

  predict = graco_jax.export.load("model.jaxexport")
  probs = predict(image, coords, is_positive, valid, prev_probs, granularity)

Variants (`meta["granularity"]`): "input" takes a granularity [B] and returns [B, H, W, 1];
"all" takes none and returns [B, 10, H, W, 1], one mask per official bin 0.1, ..., 1.0 (what a
granularity slider needs); "none" is a model without granularity embedding.
"""

import hashlib
import json
import os

import jax
import jax.numpy as jnp

from graco_jax.errors import ArtifactError, MissingInputError

FORMAT = "graco-jax-export/1"


def sidecar_path(path: str) -> str:
  return path + ".json"


def file_sha256(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      digest.update(chunk)
  return digest.hexdigest()


def read_meta(path: str) -> dict:
  """The sidecar JSON of the artifact at `path`, checked for the fields the loader relies on."""
  meta_path = sidecar_path(path)
  for p in (path, meta_path):
    if not os.path.exists(p):
      raise MissingInputError(f"{p}: no such file; an export is NAME and NAME.json, both written "
                              "by `graco-jax export`")
  try:
    with open(meta_path, encoding="utf-8") as f:
      meta = json.load(f)
  except (OSError, ValueError) as e:
    raise ArtifactError(f"{meta_path}: unreadable JSON: {e}") from e
  if not isinstance(meta, dict) or meta.get("format") != FORMAT:
    found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
    raise ArtifactError(f"{meta_path}: format {found!r}, expected {FORMAT!r}; "
                        "not a graco-jax export sidecar")
  missing = [k for k in ("artifact_sha256", "inputs", "outputs", "granularity", "platforms")
             if k not in meta]
  if missing:
    raise ArtifactError(f"{meta_path}: missing fields {missing}")
  return meta


def _spec_shape(aval) -> list:
  """An abstract shape as JSON: ints, and the symbolic dimensions' names ('batch')."""
  return [d if isinstance(d, int) else str(d) for d in aval.shape]


def _check_matches(path: str, meta: dict, exported) -> None:
  specs = [(s["name"], s["shape"], s["dtype"]) for s in meta["inputs"]]
  actual = [(s[0], _spec_shape(a), str(a.dtype)) for s, a in zip(specs, exported.in_avals)]
  if len(specs) != len(exported.in_avals) or specs != actual:
    raise ArtifactError(
        f"{sidecar_path(path)} does not describe {path}: the JSON lists inputs "
        f"{[(n, s, d) for n, s, d in specs]}, the artifact takes "
        f"{[(_spec_shape(a), str(a.dtype)) for a in exported.in_avals]}")


class ExportedPredictor:
  """A loaded export: call it with the inputs named in `input_names`, positionally or by name.

  Inputs are cast to the artifact's dtypes (coords may be int or float, masks bool or 0/1);
  shapes are checked against the artifact's before the call, with one dimension `batch` free
  when the export has a symbolic batch.
  """

  def __init__(self, exported, meta: dict):
    self.exported = exported
    self.meta = meta
    self.input_names = tuple(s["name"] for s in meta["inputs"])

  @property
  def platforms(self) -> tuple:
    return tuple(self.exported.platforms)

  def _takes(self) -> str:
    return (f"this export (granularity variant {self.meta['granularity']!r}) takes "
            f"{', '.join(self.input_names)}")

  def _bind(self, args, kwargs) -> list:
    if len(args) > len(self.input_names):
      raise ArtifactError(f"{len(args)} inputs given; {self._takes()}")
    values = dict(zip(self.input_names, args))
    for name, value in kwargs.items():
      if name not in self.input_names or name in values:
        raise ArtifactError(f"unexpected or repeated input {name!r}; {self._takes()}")
      values[name] = value
    missing = [n for n in self.input_names if n not in values]
    if missing:
      raise ArtifactError(f"missing inputs {missing}; {self._takes()}")
    return [values[n] for n in self.input_names]

  def __call__(self, *args, **kwargs) -> jax.Array:
    values = self._bind(args, kwargs)
    arrays, symbols = [], {}
    for spec, value in zip(self.meta["inputs"], values):
      array = jnp.asarray(value, dtype=spec["dtype"])
      expected = spec["shape"]
      ok = array.ndim == len(expected)
      for got, want in zip(array.shape, expected):
        if isinstance(want, int):
          ok &= got == want
        else:
          ok &= symbols.setdefault(want, got) == got
      if not ok:
        raise ArtifactError(
            f"input {spec['name']!r} has shape {tuple(array.shape)}; this export expects "
            f"({', '.join(map(str, expected))})"
            + (f" with {symbols}" if symbols else ""))
      arrays.append(array)
    return self.exported.call(*arrays)


def load(path: str) -> ExportedPredictor:
  """Loads the export at `path` to run on jax's default backend.

  Raises ArtifactError (an InputError) for a truncated or modified file, a JSON that belongs to
  another artifact, or a platform the export was not lowered for.
  """
  path = os.fspath(path)
  meta = read_meta(path)
  if file_sha256(path) != meta["artifact_sha256"]:
    raise ArtifactError(f"{path}: its SHA-256 is not the one recorded in {sidecar_path(path)}; "
                        "the file is truncated or modified, or the JSON belongs to another export")
  with open(path, "rb") as f:
    blob = f.read()
  try:
    exported = jax.export.deserialize(bytearray(blob))
  except Exception as e:  # a flatbuffer or StableHLO parse error: the file is not an export
    raise ArtifactError(f"{path}: not a readable jax.export artifact: {e}") from e
  _check_matches(path, meta, exported)
  platform = jax.export.default_export_platform()
  if platform not in exported.platforms:
    raise ArtifactError(
        f"{path} was exported for {', '.join(exported.platforms)}, not for {platform}; "
        f"re-export with `graco-jax export ... --platforms {platform}`")
  return ExportedPredictor(exported, meta)


__all__ = ["ArtifactError", "ExportedPredictor", "FORMAT", "file_sha256", "load", "read_meta",
           "sidecar_path"]
