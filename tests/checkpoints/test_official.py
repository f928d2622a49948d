"""Official checkpoint import/export without torch: the released LoRA file, round trips, reports."""

import json
import os
import pickletools
import struct
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

from graco_jax import cli
from graco_jax.checkpoints import (export_official, import_official, load_for_inference,
                                   load_mae_backbone, load_pth, read_official, save_pth)
from graco_jax.checkpoints.official import (backbone_layout, official_state_dict,
                                            param_shapes)
from graco_jax.interaction.clicks import add_click, empty_clicks
from graco_jax.model import create_model, model_config

REFERENCE = "/work/shared/reference/GraCo_base_lora.pth"


def _raw_storages(path):
  """{tensor name: (storage bytes, shape)} read straight from the zip, without our unpickler.

  In this file each tensor name is followed by its storage key (a digit string) and its
  contiguous size tuple; names are the strings containing a dot, up to the 'config' record.
  """
  with zipfile.ZipFile(path) as archive:
    top = next(n for n in archive.namelist() if n.endswith("data.pkl")).split("/")[0]
    ops = list(pickletools.genops(archive.read(f"{top}/data.pkl")))
    out, name, key, ints = {}, None, None, []
    for op, arg, _ in ops:
      if arg == "config":
        break
      if op.name == "BINUNICODE" and "." in arg and name is None:
        name, key, ints = arg, None, []
      elif op.name == "BINUNICODE" and arg.isdigit() and name is not None and key is None:
        key = arg
      elif op.name in ("BININT1", "BININT2", "BININT") and key is not None:
        ints.append(arg)
      elif op.name in ("TUPLE1", "TUPLE2") and key is not None and len(ints) >= 2:
        shape = tuple(ints[2:])  # numel, offset, then the size tuple
        out[name] = (archive.read(f"{top}/data/{key}"), shape)
        name, key = None, None
  return out


def _zero_base(tmp_path, config):
  """An official-format SimpleClick base checkpoint (constant tensors) written by export."""
  variables = jax.tree_util.tree_map(lambda s: np.broadcast_to(np.float32(0.25), s.shape),
                                     param_shapes(config))
  path = str(tmp_path / "sbd_vit_base.pth")
  export_official(config, variables, path)
  return path


def test_reference_lora_file_lands_in_params(tmp_path):
  base = _zero_base(tmp_path, model_config("base", granularity=False, lora_rank=0))
  config, variables, report = read_official(base, REFERENCE)
  assert config.size == "base" and tuple(config.crop_size) == (448, 448)
  assert config.use_granularity
  assert (config.lora.rank, tuple(config.lora.targets)) == (8, ("q", "v"))
  params = variables["params"]["backbone"]
  lora_names = [f"backbone.blocks.{i}.attn.qkv.lora_{ab}" for i in range(12) for ab in "AB"]
  assert set(lora_names + ["backbone.gra_embed.weight"]) <= set(report.loaded)
  assert sorted(report.phrase) == sorted(
      [f"backbone.blocks.{i}.attn.qkv.lora_{ab}2" for i in range(12) for ab in "AB"]
      + ["phrase_encoder.phrase2gra_proj.weight", "phrase_encoder.phrase2gra_proj.bias"])
  raw = _raw_storages(REFERENCE)
  assert len(raw) == 51  # every tensor of the file
  assert set(raw) == set(lora_names) | set(report.phrase) | {"backbone.gra_embed.weight"}

  def value(name, index):  # float32 element `index` (row-major) of the raw storage
    return struct.unpack_from("<f", raw[name][0], 4 * index)[0]

  dim, rank = 768, 8
  for i in (0, 5, 11):
    lora = params[f"blocks_{i}"]["attn"]["lora"]
    assert lora["lora_a"].shape == (2, dim, rank) and lora["lora_b"].shape == (2, rank, dim)
    for t, d, j in [(0, 0, 0), (0, 767, 7), (1, 123, 3), (1, 500, 0)]:
      # lora_A [2r, D] rows q then v; lora_B [2D, r] rows q then v
      assert lora["lora_a"][t, d, j] == value(f"backbone.blocks.{i}.attn.qkv.lora_A",
                                              (t * rank + j) * dim + d)
      assert lora["lora_b"][t, j, d] == value(f"backbone.blocks.{i}.attn.qkv.lora_B",
                                              (t * dim + d) * rank + j)
    a2 = report.phrase[f"backbone.blocks.{i}.attn.qkv.lora_A2"]
    assert a2[1, 9, 2] == value(f"backbone.blocks.{i}.attn.qkv.lora_A2", (rank + 2) * dim + 9)
  full = {n: np.frombuffer(b, "<f4").reshape(s) for n, (b, s) in raw.items()}
  np.testing.assert_array_equal(params["gra_embed"]["embedding"], full["backbone.gra_embed.weight"])
  for i in range(12):
    a = full[f"backbone.blocks.{i}.attn.qkv.lora_A"]
    b = full[f"backbone.blocks.{i}.attn.qkv.lora_B"]
    lora = params[f"blocks_{i}"]["attn"]["lora"]
    np.testing.assert_array_equal(lora["lora_a"][1], a[8:].T)
    np.testing.assert_array_equal(lora["lora_b"][0], b[:dim].T)
  np.testing.assert_array_equal(report.phrase["phrase_encoder.phrase2gra_proj.weight"],
                                full["phrase_encoder.phrase2gra_proj.weight"].T)
  # the base tensors are the base file's
  assert np.all(params["blocks_3"]["attn"]["qkv"]["kernel"] == 0.25)


def test_lora_file_alone_names_the_missing_base_tensors():
  with pytest.raises(ValueError, match=r"GraCo_base_lora\.pth.*missing tensors:.*"
                                       r"backbone\.blocks\.0\.attn\.proj\.bias"):
    import_official(REFERENCE)


def _random_variables(config, seed):
  """Every parameter random (LoRA B, norms and biases too), without compiling an init."""
  rng = np.random.default_rng(seed)
  return jax.tree_util.tree_map(
      lambda s: (rng.normal(size=s.shape) * 0.1).astype(np.float32), param_shapes(config))


def _tiny(seed=0, crop=224):
  config = model_config("tiny", crop_size=crop)
  return config, _random_variables(config, seed)


def test_export_then_import_is_the_identity(tmp_path):
  config, variables = _tiny()
  path = str(tmp_path / "tiny.pth")
  export_official(config, variables, path)
  config2, variables2, report = read_official(path)
  assert config2.to_dict() == {**config.to_dict(), "size": "tiny"}
  flat, flat2 = traverse_util.flatten_dict(variables), traverse_util.flatten_dict(variables2)
  assert flat.keys() == flat2.keys()
  for key in flat:
    np.testing.assert_array_equal(flat2[key], flat[key], err_msg="/".join(key))
  assert sorted(report.skipped) == sorted(
      ["backbone.cls_token", "backbone.fc_norm.weight", "backbone.fc_norm.bias",
       "backbone.head.weight", "backbone.head.bias", "backbone.pos_embed[:, 0]"]
      + [f"head.up_conv{u}.{m}.{p}" for u in (1, 2) for m in range(4) for p in ("weight", "bias")])
  # the exported tensors are in the official layout
  state = load_pth(path)["state_dict"]
  qkv = flat[("params", "backbone", "blocks_1", "attn", "qkv", "kernel")]
  np.testing.assert_array_equal(state["backbone.blocks.1.attn.qkv.weight"], np.asarray(qkv).T)
  up = flat[("params", "neck", "down_4_upconv1", "kernel")]  # [a, b, in, out]
  np.testing.assert_array_equal(state["neck.down_4.0.weight"][5, 7], np.asarray(up)[:, :, 5, 7])
  conv = flat[("params", "neck", "down_32_downconv", "kernel")]  # [h, w, in, out]
  np.testing.assert_array_equal(state["neck.down_32.0.weight"][3, 2], np.asarray(conv)[:, :, 2, 3])
  assert state["backbone.pos_embed"].shape == (1, 197, 96)


def test_random_model_exported_and_reimported_gives_identical_logits(tmp_path):
  config, variables = _tiny(seed=3)
  path = str(tmp_path / "tiny.pth")
  export_official(config, variables, path)
  config2, variables2 = import_official(path)
  clicks = add_click(empty_clicks(2, 3), jnp.array([40, 100]), jnp.array([50, 20]),
                     jnp.array([True, True]))
  image = jax.random.uniform(jax.random.PRNGKey(5), (2, 224, 224, 3))
  prev = jax.random.uniform(jax.random.PRNGKey(6), (2, 224, 224, 1))
  apply = jax.jit(create_model(config).apply)
  gra = jnp.array([0.3, 1.0])
  np.testing.assert_array_equal(apply(variables2, image, clicks, prev, gra),
                                apply(variables, image, clicks, prev, gra))
  assert create_model(config2) == create_model(config)


def test_missing_and_unexpected_keys_are_named(tmp_path):
  config, variables = _tiny()
  path = str(tmp_path / "tiny.pth")
  export_official(config, variables, path)
  obj = load_pth(path)
  del obj["state_dict"]["neck.down_8.2.weight"]
  obj["state_dict"]["backbone.blocks.0.attn.extra_scale"] = np.ones(3, np.float32)
  broken = str(tmp_path / "broken.pth")
  save_pth(broken, obj)
  with pytest.raises(ValueError) as error:
    import_official(broken)
  message = str(error.value)
  assert "broken.pth" in message
  assert "missing tensors: neck.down_8.2.weight" in message
  assert "unexpected tensors: backbone.blocks.0.attn.extra_scale" in message
  # a tensor of the wrong shape is named too
  obj = load_pth(path)
  obj["state_dict"]["head.fusion_conv.conv.weight"] = np.zeros((64, 256, 3, 3), np.float32)
  save_pth(broken, obj)
  with pytest.raises(ValueError, match=r"shape.*head\.fusion_conv\.conv\.weight"):
    import_official(broken)


def test_lora_file_replaces_base_factors(tmp_path):
  config, variables = _tiny(seed=0)
  base = str(tmp_path / "base.pth")
  export_official(config, variables, base)
  _, other = _tiny(seed=7)
  lora_state = {name: value for name, value in official_state_dict(config, other).items()
                if ".lora_" in name or "gra_embed" in name}
  lora_path = str(tmp_path / "lora.pth")
  save_pth(lora_path, {"state_dict": lora_state, "config": load_pth(base)["config"]})
  _, merged, report = read_official(base, lora_path)
  assert sorted(report.overridden) == sorted(lora_state)
  lora = merged["params"]["backbone"]["blocks_2"]["attn"]["lora"]
  np.testing.assert_array_equal(lora["lora_b"],
                                other["params"]["backbone"]["blocks_2"]["attn"]["lora"]["lora_b"])
  base_qkv = variables["params"]["backbone"]["blocks_2"]["attn"]["qkv"]["kernel"]
  np.testing.assert_array_equal(merged["params"]["backbone"]["blocks_2"]["attn"]["qkv"]["kernel"],
                                base_qkv)


def test_mae_backbone_initialisation(tmp_path):
  config = model_config("tiny", crop_size=448)
  config.window_size = 224
  variables = _random_variables(config, 0)
  rng = np.random.default_rng(0)
  mae = {name: rng.normal(size=s).astype(np.float32)
         for name, s in _official_backbone_shapes(config, grid=14).items()}
  mae.update({"cls_token": np.zeros((1, 1, 96), np.float32), "norm.weight": np.ones(96, np.float32),
              "norm.bias": np.zeros(96, np.float32), "mask_token": np.zeros((1, 1, 96), np.float32),
              "decoder_embed.weight": np.zeros((64, 96), np.float32)})
  path = str(tmp_path / "mae_pretrain_vit_tiny.pth")
  save_pth(path, {"model": mae})
  loaded, report = load_mae_backbone(path, config, variables)
  backbone = loaded["params"]["backbone"]
  np.testing.assert_array_equal(backbone["blocks_3"]["mlp"]["fc1"]["kernel"],
                                mae["blocks.3.mlp.fc1.weight"].T)
  np.testing.assert_array_equal(backbone["patch_embed"]["proj"]["kernel"],
                                mae["patch_embed.proj.weight"].transpose(2, 3, 1, 0))
  assert backbone["pos_embed"].shape == (1, 28 * 28, 96)
  # LoRA, click embedding, neck and head keep their initialisation
  for path_ in [("backbone", "click_embed", "proj", "kernel"), ("neck", "down_4_proj", "kernel"),
                ("backbone", "blocks_0", "attn", "lora", "lora_a")]:
    a, b = loaded["params"], variables["params"]
    for k in path_:
      a, b = a[k], b[k]
    np.testing.assert_array_equal(a, b)
  assert sorted(report.skipped) == ["cls_token", "decoder_embed.weight", "mask_token",
                                    "norm.bias", "norm.weight"]
  mae["blocks.0.attn.rel_bias"] = np.zeros(3, np.float32)
  save_pth(path, {"model": mae})
  with pytest.raises(ValueError, match=r"mae_pretrain_vit_tiny\.pth.*blocks\.0\.attn\.rel_bias"):
    load_mae_backbone(path, config, variables)


def _official_backbone_shapes(config, grid):
  """MAE ViT tensor shapes for our backbone layout (no 'backbone.' prefix)."""
  flat = traverse_util.flatten_dict(param_shapes(config)["params"]["backbone"])
  shapes = {}
  for name, path, kind in backbone_layout(config, prefix=""):
    if kind in ("lora_a", "lora_b"):
      continue
    shape = flat[path].shape
    if kind == "linear":
      shape = shape[::-1]
    elif kind == "conv":
      shape = (shape[3], shape[2], shape[0], shape[1])
    elif kind == "pos_embed":
      shape = (1, grid * grid + 1, shape[2])
    shapes[name] = shape
  return shapes


def test_import_command_writes_an_orbax_checkpoint(tmp_path, capsys):
  config, variables = _tiny(seed=2)
  path = str(tmp_path / "tiny.pth")
  export_official(config, variables, path)
  out = str(tmp_path / "imported")
  assert cli.main(["import", "--checkpoint", path, "--out", out]) == 0
  assert "wrote" in capsys.readouterr().out
  config2, restored = load_for_inference(out)
  assert config2.embed_dim == 96 and tuple(config2.crop_size) == (224, 224)
  flat, flat2 = traverse_util.flatten_dict(variables), traverse_util.flatten_dict(restored)
  for key in flat:
    np.testing.assert_array_equal(flat2[key], flat[key])
  with open(os.path.join(out, "import_report.json")) as f:
    report = json.load(f)
  assert "backbone.cls_token" in report["skipped"] and report["lora"] is None
