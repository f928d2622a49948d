"""The tiny models of export_toys.py with random weights, and their exports (written once)."""

import os
import sys

import jax
import pytest

from graco_jax.export.build import export_predictor, write_export
from graco_jax.model import init_params

sys.path.insert(0, os.path.dirname(__file__))
from export_toys import CAPACITY, tiny_config


@pytest.fixture(scope="session")
def graco_model():
  config = tiny_config(granularity=True)
  return config, init_params(config, jax.random.PRNGKey(0))


@pytest.fixture(scope="session")
def simpleclick_model():
  config = tiny_config(granularity=False)
  return config, init_params(config, jax.random.PRNGKey(1))


@pytest.fixture(scope="session")
def exports(tmp_path_factory, graco_model, simpleclick_model):
  """{variant: artifact path}: 'input', 'all' (GraCo), 'none' (SimpleClick), symbolic batch."""
  folder = tmp_path_factory.mktemp("exports")
  paths = {}
  for variant, (config, variables) in [("input", graco_model), ("all", graco_model),
                                       ("none", simpleclick_model)]:
    exported, meta = export_predictor(config, variables, variant, capacity=CAPACITY,
                                      platforms=("cpu", "cuda"))
    paths[variant] = str(folder / f"{variant}.jaxexport")
    write_export(paths[variant], exported, meta)
  return paths
