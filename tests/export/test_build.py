"""`graco-jax export`: the exported step equals the live model, and the sidecar says what it is."""

import functools
import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from graco_jax import cli, predictor as predictor_lib
from graco_jax.checkpoints import load_for_inference, save_params
from graco_jax.errors import InputError
from graco_jax.export import load
from graco_jax.export.build import export_predictor, params_fingerprint
from graco_jax.interaction.clicks import ClickSet
from graco_jax.model import GRANULARITY_BINS, create_model, granularity_index

sys.path.insert(0, os.path.dirname(__file__))
from export_toys import CAPACITY, CROP, random_inputs


def live_probs(config, variables, inputs, granularity):
  predict_fn = jax.jit(functools.partial(predictor_lib.plain(create_model(config).apply).probs,
                                         variables))
  clicks = ClickSet(jnp.asarray(inputs["coords"]), jnp.asarray(inputs["is_positive"]),
                    jnp.asarray(inputs["valid"]))
  return np.asarray(predict_fn(inputs["image"], clicks, inputs["prev_probs"], granularity))


@pytest.mark.parametrize("batch", [1, 3])
def test_exported_equals_live_model_with_granularity(exports, graco_model, batch):
  config, variables = graco_model
  inputs = random_inputs(batch, seed=batch)
  predict = load(exports["input"])
  got = np.asarray(predict(**inputs))
  want = live_probs(config, variables, inputs, inputs["granularity"])
  assert got.shape == (batch, CROP, CROP, 1)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  # The granularity input must reach the model, or the comparison above proves little.
  other = np.asarray(predict(**dict(inputs, granularity=1.05 - inputs["granularity"])))
  assert np.abs(other - got).max() > 1e-3


@pytest.mark.parametrize("batch", [1, 3])
def test_exported_equals_live_model_without_granularity(exports, simpleclick_model, batch):
  config, variables = simpleclick_model
  inputs = random_inputs(batch, seed=10 + batch)
  inputs.pop("granularity")
  got = np.asarray(load(exports["none"])(**inputs))
  np.testing.assert_allclose(got, live_probs(config, variables, inputs, None),
                             rtol=1e-5, atol=1e-6)
  assert got.std() > 1e-4


def test_all_variant_returns_every_official_bin_in_one_call(exports, graco_model):
  config, variables = graco_model
  # Each value lands in its own bin of the official embedding, in order.
  np.testing.assert_array_equal(np.asarray(granularity_index(jnp.asarray(GRANULARITY_BINS))),
                                np.arange(10))
  inputs = random_inputs(3, seed=5)
  inputs.pop("granularity")
  got = np.asarray(load(exports["all"])(**inputs))
  assert got.shape == (3, 10, CROP, CROP, 1)
  for i, g in enumerate(GRANULARITY_BINS):
    want = live_probs(config, variables, inputs, jnp.full((3,), g, jnp.float32))
    np.testing.assert_allclose(got[:, i], want, rtol=1e-5, atol=1e-6)
  assert np.abs(got[:, 0] - got[:, 9]).max() > 1e-3


def test_sidecar_describes_inputs_variant_and_weights(exports, graco_model):
  config, variables = graco_model
  with open(exports["all"] + ".json", encoding="utf-8") as f:
    meta = json.load(f)
  assert meta["granularity"] == "all"
  assert meta["granularity_values"] == pytest.approx([0.1 * i for i in range(1, 11)])
  assert [(s["name"], s["shape"], s["dtype"]) for s in meta["inputs"]] == [
      ("image", ["batch", CROP, CROP, 3], "float32"),
      ("coords", ["batch", CAPACITY, 2], "float32"),
      ("is_positive", ["batch", CAPACITY], "bool"),
      ("valid", ["batch", CAPACITY], "bool"),
      ("prev_probs", ["batch", CROP, CROP, 1], "float32")]
  assert meta["outputs"] == [{"name": "probs", "shape": ["batch", 10, CROP, CROP, 1],
                              "dtype": "float32"}]
  assert meta["platforms"] == ["cpu", "cuda"]
  assert meta["model_config"] == json.loads(json.dumps(config.to_dict()))
  assert meta["params_fingerprint"] == params_fingerprint(variables)
  assert meta["artifact_bytes"] == os.path.getsize(exports["all"])


def test_fingerprint_names_the_weights_not_their_container(graco_model):
  _, variables = graco_model
  host = jax.tree_util.tree_map(np.asarray, variables)
  assert params_fingerprint(host) == params_fingerprint(variables)
  changed = jax.tree_util.tree_map(np.array, host)
  changed["params"]["head"]["conv_seg"]["bias"][0] += 1e-6
  assert params_fingerprint(changed) != params_fingerprint(host)
  renamed = {"params": dict(host["params"])}
  renamed["params"]["head2"] = renamed["params"].pop("head")
  assert params_fingerprint(renamed) != params_fingerprint(host)


def test_cli_exports_a_checkpoint_at_a_fixed_batch_and_size(tmp_path, graco_model):
  config, variables = graco_model
  checkpoint = str(tmp_path / "ckpt")
  save_params(checkpoint, config, variables, step=5)
  out = str(tmp_path / "model.jaxexport")
  assert cli.main(["export", "--checkpoint", checkpoint, "--out", out, "--batch", "2",
                   "--size", "64,128", "--clicks", "3", "--platforms", "cpu,tpu"]) == 0
  predict = load(out)
  assert predict.meta["checkpoint"]["step"] == 5
  assert predict.meta["params_fingerprint"] == params_fingerprint(load_for_inference(checkpoint)[1])
  assert predict.platforms == ("cpu", "tpu")
  inputs = random_inputs(2, seed=7, size=(64, 128), capacity=3)
  got = np.asarray(predict(**inputs))
  np.testing.assert_allclose(got, live_probs(config, variables, inputs, inputs["granularity"]),
                             rtol=1e-5, atol=1e-6)
  with pytest.raises(InputError, match=r"'image' has shape \(3, 64, 128, 3\).*\(2, 64, 128, 3\)"):
    predict(**random_inputs(3, size=(64, 128), capacity=3))


def test_bad_options_are_input_errors(graco_model, simpleclick_model):
  config, variables = graco_model
  with pytest.raises(InputError, match="has a granularity embedding"):
    export_predictor(config, variables, "none")
  with pytest.raises(InputError, match="no granularity embedding"):
    export_predictor(simpleclick_model[0], simpleclick_model[1], "all")
  with pytest.raises(InputError, match="multiples of the attention window, 64"):
    export_predictor(config, variables, size=(96, 128))
  with pytest.raises(InputError, match="platforms.*choose from"):
    export_predictor(config, variables, platforms=("gpu",))
