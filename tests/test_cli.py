"""The CLI's process-wide settings."""

import os

import jax
import pytest

from graco_jax import cli


@pytest.fixture
def restore_cache_dir():
  before = jax.config.jax_compilation_cache_dir
  yield
  jax.config.update("jax_compilation_cache_dir", before)


@pytest.mark.parametrize("env, expected", [
    ({"XDG_CACHE_HOME": "/x/cache"}, "/x/cache/graco-jax/xla"),
    ({"HOME": "/home/u"}, "/home/u/.cache/graco-jax/xla"),
    ({"GRACO_JAX_XLA_CACHE": "/elsewhere", "XDG_CACHE_HOME": "/x"}, "/elsewhere"),
    ({"GRACO_JAX_XLA_CACHE": "off"}, None),
    ({"JAX_COMPILATION_CACHE_DIR": "/jax/own"}, None),
])
def test_compilation_cache_folder(monkeypatch, restore_cache_dir, env, expected):
  for name in ("GRACO_JAX_XLA_CACHE", "XDG_CACHE_HOME", "JAX_COMPILATION_CACHE_DIR"):
    monkeypatch.delenv(name, raising=False)
  for name, value in env.items():
    monkeypatch.setenv(name, value)
  jax.config.update("jax_compilation_cache_dir", None)
  cli._enable_compilation_cache()
  assert jax.config.jax_compilation_cache_dir == expected
