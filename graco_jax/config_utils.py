"""Loads `configs/*.py` files (`get_config(arg)`) and applies `--config.a.b=value` overrides."""

import ast
import dataclasses
import importlib.util
import os

import ml_collections


def load_config(spec: str, overrides=()) -> ml_collections.ConfigDict:
  """`spec` is 'path/to/config.py' or 'path/to/config.py:arg' (big_vision style)."""
  path, _, arg = spec.partition(":")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"config file {path} does not exist")
  module_spec = importlib.util.spec_from_file_location(
      os.path.splitext(os.path.basename(path))[0], path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise ValueError(f"config file {path} defines no get_config()")
  config = module.get_config(arg or None)
  apply_overrides(config, overrides)
  return config


def apply_overrides(config: ml_collections.ConfigDict, overrides) -> None:
  """Applies 'a.b=value' strings; values are Python literals, else plain strings."""
  for item in overrides:
    item = item[len("--config."):] if item.startswith("--config.") else item
    key, sep, text = item.partition("=")
    if not sep:
      raise ValueError(f"config override {item!r} is not of the form key=value")
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      value = text
    node = config
    *parents, leaf = key.split(".")
    for name in parents:
      node = node[name]
    if leaf not in node:
      raise KeyError(f"config override {key!r}: no field {leaf!r} in the config")
    if isinstance(node[leaf], tuple) and isinstance(value, list):
      value = tuple(value)
    node[leaf] = value


def dataclass_from_config(cls, config):
  """Builds dataclass `cls` from the matching fields of a ConfigDict / dict (lists -> tuples)."""
  fields = {f.name for f in dataclasses.fields(cls)}
  values = {k: (tuple(v) if isinstance(v, (list, tuple)) else v)
            for k, v in dict(config).items() if k in fields}
  return cls(**values)
