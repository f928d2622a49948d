"""Loads `configs/*.py` files (`get_config(arg)`) and applies `--config.a.b=value` overrides.

The overrides go through `ml_collections.config_flags` on a private absl `FlagValues` (absl's
global flags stay untouched, so argparse keeps the rest of the command line): each value is
parsed as the type of the field it replaces; a tuple field takes a Python literal (`(1, 2)`,
`1,2`, `('q', 'v')`) or one repeated flag per element (`--config.x=q --config.x=v`).
"""

import dataclasses
import importlib.util
import os

from absl import flags
import ml_collections
from ml_collections import config_flags

from graco_jax.errors import InputError, MissingInputError


def load_config(spec: str, overrides=()) -> ml_collections.ConfigDict:
  """`spec` is 'path/to/config.py' or 'path/to/config.py:arg' (big_vision style).

  `overrides` are '--config.a.b=value' strings. The file is loaded here rather than by
  `config_flags.DEFINE_config_file`, which turns a missing file into an error at first access
  and pastes the traceback of an error raised by `get_config` into its message.
  """
  path, _, arg = spec.partition(":")
  if not os.path.isfile(path):
    raise MissingInputError(f"config file {path} does not exist",
                            hint="configs/ lists the experiment configs")
  module_spec = importlib.util.spec_from_file_location(
      os.path.splitext(os.path.basename(path))[0], path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  if not hasattr(module, "get_config"):
    raise InputError(f"config file {path} defines no get_config()")
  config = module.get_config(arg or None)
  apply_overrides(config, overrides)
  return config


def apply_overrides(config: ml_collections.ConfigDict, overrides) -> None:
  """Applies '--config.a.b=value' strings in place, each parsed as its field's type."""
  overrides = list(overrides)
  for item in overrides:
    _check_field(config, item)
  flag_values = flags.FlagValues()
  config_flags.DEFINE_config_dict("config", config, flag_values=flag_values,
                                  sys_argv=overrides, lock_config=False)
  try:
    flag_values(["graco-jax", *overrides])
  except flags.Error as e:
    raise InputError(f"bad config override: {str(e).removeprefix('flag ')}",
                     hint="a value is parsed as the type of the field it replaces: 3, 0.5, "
                     "true, text; a tuple as (1, 2), 1,2 or by repeating the flag") from None


def _check_field(config, item: str) -> None:
  """Names the missing field (config_flags raises a bare KeyError or AttributeError)."""
  if not item.startswith("--config."):
    raise InputError(f"config override {item!r} is not of the form --config.a.b=value")
  key = item[len("--config."):].partition("=")[0]
  node, path = config, "config"
  for name in key.split("."):
    if not isinstance(node, ml_collections.ConfigDict):
      raise InputError(f"config override {item}: {path} is a {type(node).__name__}, "
                       f"it has no field {name!r}")
    if name not in node:
      raise InputError(f"config override {item}: {path} has no field {name!r}",
                       hint=f"the fields of {path} are {', '.join(sorted(node))}")
    node, path = node[name], f"{path}.{name}"


def dataclass_from_config(cls, config):
  """Builds dataclass `cls` from the matching fields of a ConfigDict / dict (lists -> tuples)."""
  fields = {f.name for f in dataclasses.fields(cls)}
  values = {k: (tuple(v) if isinstance(v, (list, tuple)) else v)
            for k, v in dict(config).items() if k in fields}
  return cls(**values)
