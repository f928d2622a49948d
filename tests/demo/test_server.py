"""The demo's routes without a browser: default checkpoint, damaged checkpoints, bad requests."""

import argparse
import json

import jax
import numpy as np
import pytest

from graco_jax import predictor as predictor_lib
from graco_jax.demo import server
from graco_jax.demo.session import Session
from graco_jax.errors import InputError
from graco_jax.model import init_params, model_config


def args(**kwargs):
  defaults = dict(checkpoint=None, config=None, grabcut="/nonexistent", max_pixels=10_000,
                  seed=0, config_overrides=[])
  return argparse.Namespace(**{**defaults, **kwargs})


def test_without_a_checkpoint_the_page_says_how_to_get_one(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)  # no quickstart_out/graco here
  demo = server.build_demo(args())
  status, _, payload, _ = demo.handle("GET", "/api/state", {}, b"")
  state = json.loads(payload)
  assert status == 200 and state["model"] is None
  assert "graco-jax quickstart" in state["model_error"]
  assert "graco-jax import" in state["model_error"]
  assert state["examples"] == ["synthetic/0", "synthetic/1", "synthetic/2"]  # no GrabCut there
  with pytest.raises(InputError, match="graco-jax quickstart"):
    demo.handle("POST", "/api/example", {"name": "synthetic/0"}, b"")


def test_a_damaged_checkpoint_is_a_message_not_a_crash(tmp_path):
  (tmp_path / "model_config.json").write_text("{not json")
  demo = server.build_demo(args(checkpoint=str(tmp_path)))
  assert demo.session is None and "unreadable model config" in demo.model_error
  demo = server.build_demo(args(checkpoint=str(tmp_path / "absent")))
  assert "absent does not exist" in demo.model_error


def test_bad_requests_get_messages_and_the_state_stays(tmp_path):
  config = model_config("tiny", crop_size=64, lora_rank=4)
  config.window_size = 64
  predictor = predictor_lib.for_model(config, init_params(config, jax.random.PRNGKey(0)))
  demo = server.Demo(Session(predictor, True), "tiny", None,
                     {"synthetic/0": lambda: np.zeros((40, 50, 3), np.float32)}, max_pixels=4000)
  with pytest.raises(InputError, match="open an image first"):
    demo.handle("POST", "/api/click", {}, b'{"y": 1, "x": 1, "positive": true}')
  state = json.loads(demo.handle("POST", "/api/example", {"name": "synthetic/0"}, b"")[2])
  assert state["image"] == {"height": 40, "width": 50, "version": 1}
  with pytest.raises(InputError, match="outside the 40x50 image"):
    demo.handle("POST", "/api/click", {}, b'{"y": 10, "x": 50, "positive": true}')
  with pytest.raises(InputError, match="a click is JSON"):
    demo.handle("POST", "/api/click", {}, b'{"y": 10}')
  with pytest.raises(InputError, match="no mask yet"):
    demo.handle("GET", "/api/mask.png", {"granularity": "0.5"}, b"")
  with pytest.raises(InputError, match="at most 4,000"):
    from graco_jax.demo.server import png_bytes
    demo.handle("POST", "/api/image", {}, png_bytes(np.zeros((80, 60, 3), np.uint8)))
  assert demo.handle("GET", "/api/nothing", {}, b"")[0] == 404
  assert demo.session.forwards == 0 and demo.session.image.shape == (40, 50, 3)
