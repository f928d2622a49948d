"""Official GraCo / SimpleClick / MAE PyTorch checkpoints <-> graco-jax parameters.

Official files hold {'state_dict': {name: tensor}, 'config': record} where the record is the
official `serialize` layout {'class': 'isegm.model....', 'params': {name: {'type', 'value',
'specified'}}}; it carries the architecture, so importing needs no config of ours. The
mapping between official tensor names and our parameter paths is one table
(`official_layout`), used in both directions:

  torch Linear weight [out, in]          <-> Dense kernel [in, out]
  torch Conv2d weight [out, in, h, w]    <-> Conv kernel [h, w, in, out]
  torch ConvTranspose2d [in, out, h, w]  <-> ConvTranspose2x2 kernel [h, w, in, out]
  pos_embed [1, 1 + N, D] (class row)    <-> pos_embed [1, N, D] on the crop's token grid
  qkv.lora_A [T * r, D], lora_B [T * D, r] (rows in q, k, v order of the enabled targets)
                                         <-> lora_a [T, D, r], lora_b [T, r, D]

Tensors the official forward never uses (cls_token, the class row of pos_embed, fc_norm, the
classifier head, the decode head's up_conv1/up_conv2 in x1 mode) are reported as skipped.
The released dual-branch LoRA file serves the granularity slider with lora_A/lora_B and
gra_embed; its semantic-phrase branch (lora_A2/lora_B2, phrase_encoder.*) is kept aside in the
import report, unused by our model.
"""

import collections
import dataclasses
import logging

import jax
import ml_collections
import numpy as np
from flax import traverse_util

from graco_jax.checkpoints.pth import load_pth, save_pth
from graco_jax.errors import InputError
from graco_jax.model import SIZES, init_params, model_config as make_model_config
from graco_jax.model.resize import bicubic_matrix

# Official model classes (config record 'class').
SIMPLECLICK_CLASS = "isegm.model.is_plainvit_model.PlainVitModel"
GRACO_LORA_CLASS = "isegm.model.is_plainvit_graco_model_lora.PlainVitModel_lora"
GRACO_DUAL_CLASS = "isegm.model.is_plainvit_graco_two_signal_model_lora.PhraseCLIPGraCoModel_lora"
OFFICIAL_LORA_RANK = 8  # hard-coded in the official attention layers
OFFICIAL_NUM_CLASSES = 1000  # the unused classifier of the official VisionTransformer
BACKBONE_DEFAULTS = {"img_size": (224, 224), "patch_size": (16, 16), "in_chans": 3,
                     "embed_dim": 768, "depth": 12, "num_heads": 12, "mlp_ratio": 4.0,
                     "qkv_bias": True, "enable_gra": False}

log = logging.getLogger(__name__)


@dataclasses.dataclass
class ImportReport:
  """What an import did with every official tensor, by name."""
  loaded: list = dataclasses.field(default_factory=list)
  skipped: dict = dataclasses.field(default_factory=dict)  # official name -> why
  unexpected: list = dataclasses.field(default_factory=list)  # official names we cannot place
  missing: list = dataclasses.field(default_factory=list)  # official names our model needs
  overridden: list = dataclasses.field(default_factory=list)  # base tensors replaced by LoRA file
  phrase: dict = dataclasses.field(default_factory=dict)  # semantic-phrase branch, our layout

  def summary(self) -> str:
    return (f"{len(self.loaded)} tensors loaded, {len(self.skipped)} skipped as unused, "
            f"{len(self.phrase)} phrase-branch tensors kept aside, "
            f"{len(self.overridden)} base tensors replaced by the LoRA file")


def _names(names, limit=40):
  names = sorted(names)
  more = f" ... and {len(names) - limit} more" if len(names) > limit else ""
  return ", ".join(names[:limit]) + more


# ---- the mapping table ---------------------------------------------------------------------


def _linear(prefix, path):
  return [(f"{prefix}.weight", path + ("kernel",), "linear"),
          (f"{prefix}.bias", path + ("bias",), "copy")]


def _conv(prefix, path, kind="conv"):
  return [(f"{prefix}.weight", path + ("kernel",), kind),
          (f"{prefix}.bias", path + ("bias",), "copy")]


def _norm(prefix, path):
  return [(f"{prefix}.weight", path + ("scale",), "copy"),
          (f"{prefix}.bias", path + ("bias",), "copy")]


def backbone_layout(config, prefix="backbone."):
  """(official name, our path under params/backbone, transform) of every backbone tensor."""
  b = ()
  rows = _conv(f"{prefix}patch_embed.proj", b + ("patch_embed", "proj"))
  rows.append((f"{prefix}pos_embed", b + ("pos_embed",), "pos_embed"))
  for i in range(config.depth):
    o, p = f"{prefix}blocks.{i}", b + (f"blocks_{i}",)
    rows += _norm(f"{o}.norm1", p + ("norm1",))
    rows += _linear(f"{o}.attn.qkv", p + ("attn", "qkv"))
    if config.lora.rank:
      rows.append((f"{o}.attn.qkv.lora_A", p + ("attn", "lora", "lora_a"), "lora_a"))
      rows.append((f"{o}.attn.qkv.lora_B", p + ("attn", "lora", "lora_b"), "lora_b"))
    rows += _linear(f"{o}.attn.proj", p + ("attn", "proj"))
    rows += _norm(f"{o}.norm2", p + ("norm2",))
    rows += _linear(f"{o}.mlp.fc1", p + ("mlp", "fc1"))
    rows += _linear(f"{o}.mlp.fc2", p + ("mlp", "fc2"))
  return rows


def official_layout(config):
  """(official name, our path under 'params', transform) for every tensor our model uses."""
  rows = [(name, ("backbone",) + path, kind) for name, path, kind in backbone_layout(config)]
  rows += _conv("patch_embed_coords.proj", ("backbone", "click_embed", "proj"))
  if config.use_granularity:
    rows.append(("backbone.gra_embed.weight", ("backbone", "gra_embed", "embedding"), "copy"))
  n = ("neck",)
  rows += _conv("neck.down_4.0", n + ("down_4_upconv1",), "conv_transpose")
  rows += _norm("neck.down_4.1", n + ("down_4_norm1",))
  rows += _conv("neck.down_4.3", n + ("down_4_upconv2",), "conv_transpose")
  rows += _norm("neck.down_4.4", n + ("down_4_norm2",))
  rows += _conv("neck.down_4.5", n + ("down_4_proj",))
  rows += _norm("neck.down_4.6", n + ("down_4_norm3",))
  rows += _conv("neck.down_8.0", n + ("down_8_upconv",), "conv_transpose")
  rows += _norm("neck.down_8.1", n + ("down_8_norm1",))
  rows += _conv("neck.down_8.2", n + ("down_8_proj",))
  rows += _norm("neck.down_8.3", n + ("down_8_norm2",))
  rows += _conv("neck.down_16.0", n + ("down_16_proj",))
  rows += _norm("neck.down_16.1", n + ("down_16_norm",))
  rows += _conv("neck.down_32.0", n + ("down_32_downconv",))
  rows += _norm("neck.down_32.1", n + ("down_32_norm1",))
  rows += _conv("neck.down_32.2", n + ("down_32_proj",))
  rows += _norm("neck.down_32.3", n + ("down_32_norm2",))
  for i in range(len(config.neck_dims)):
    rows += _conv(f"head.convs.{i}.conv", ("head", f"convs_{i}"))
  rows += _conv("head.fusion_conv.conv", ("head", "fusion_conv"))
  rows += _conv("head.conv_seg", ("head", "conv_seg"))
  return rows


def unused_official_tensors(config):
  """{official name: shape} of tensors the official model holds but its forward never uses."""
  d, c = config.embed_dim, config.head_channels
  shapes = {"backbone.cls_token": (1, 1, d), "backbone.fc_norm.weight": (d,),
            "backbone.fc_norm.bias": (d,), "backbone.head.weight": (OFFICIAL_NUM_CLASSES, d),
            "backbone.head.bias": (OFFICIAL_NUM_CLASSES,)}
  for name, cin, cout in (("up_conv1", c, c // 2), ("up_conv2", c // 2, c // 4)):
    shapes.update({f"head.{name}.0.weight": (cin, cout, 2, 2), f"head.{name}.0.bias": (cout,),
                   f"head.{name}.1.weight": (cout,), f"head.{name}.1.bias": (cout,),
                   f"head.{name}.2.weight": (cout, cout, 1, 1), f"head.{name}.2.bias": (cout,),
                   f"head.{name}.3.weight": (cout,), f"head.{name}.3.bias": (cout,)})
  return shapes


def _unused_by_segmenter(name):
  """Official segmentation-checkpoint tensors its forward pass never reads."""
  return (name in ("backbone.cls_token", "backbone.fc_norm.weight", "backbone.fc_norm.bias",
                   "backbone.head.weight", "backbone.head.bias")
          or name.startswith(("head.up_conv1.", "head.up_conv2.", "backbone.pre_logits.")))


def _unused_by_mae_backbone(name):
  """MAE checkpoint tensors outside the encoder blocks (class token, final norm, decoder)."""
  return (name in ("cls_token", "mask_token", "norm.weight", "norm.bias", "fc_norm.weight",
                   "fc_norm.bias", "head.weight", "head.bias")
          or name.startswith(("decoder_", "pre_logits.")))


# ---- tensor transforms ---------------------------------------------------------------------


def interpolate_pos_embed(tokens, grid_hw):
  """[N, D] on a square grid -> [h * w, D], bicubic with align_corners=False (official)."""
  n, d = tokens.shape
  side = int(round(n**0.5))
  if side * side != n:
    raise ValueError(f"position embedding of {n} tokens is not on a square grid")
  if (side, side) == tuple(grid_hw):
    return tokens
  my = bicubic_matrix(grid_hw[0], side, False).astype(np.float64)
  mx = bicubic_matrix(grid_hw[1], side, False).astype(np.float64)
  grid = tokens.reshape(side, side, d).astype(np.float64)
  out = np.einsum("oh,hwc,pw->opc", my, grid, mx)
  return out.reshape(-1, d).astype(tokens.dtype)


def _to_ours(kind, x, config, name):
  x = np.asarray(x, np.float32)
  if kind == "copy":
    return x
  if kind == "linear":
    return x.T
  if kind == "conv":
    return x.transpose(2, 3, 1, 0)
  if kind == "conv_transpose":
    return x.transpose(2, 3, 0, 1)
  if kind == "pos_embed":
    grid = tuple(s // config.patch_size for s in config.crop_size)
    tokens = x[0, 1:]  # drop the class-token row
    if tokens.shape[0] != grid[0] * grid[1]:
      log.info("%s: interpolating %d position tokens to the %dx%d grid", name,
               tokens.shape[0], *grid)
    return interpolate_pos_embed(tokens, grid)[None]
  num_targets, rank, dim = len(config.lora.targets), config.lora.rank, config.embed_dim
  if kind == "lora_a":  # [T * r, D] -> [T, D, r]
    return x.reshape(num_targets, rank, dim).transpose(0, 2, 1)
  if kind == "lora_b":  # [T * D, r] -> [T, r, D]
    return x.reshape(num_targets, dim, rank).transpose(0, 2, 1)
  raise ValueError(kind)


def _to_official(kind, x, config):
  x = np.asarray(x, np.float32)
  if kind == "copy":
    return x
  if kind == "linear":
    return np.ascontiguousarray(x.T)
  if kind == "conv":
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1))
  if kind == "conv_transpose":
    return np.ascontiguousarray(x.transpose(2, 3, 0, 1))
  if kind == "pos_embed":
    return np.concatenate([np.zeros((1, 1, x.shape[-1]), np.float32), x], axis=1)
  if kind == "lora_a":  # [T, D, r] -> [T * r, D]
    return np.ascontiguousarray(x.transpose(0, 2, 1).reshape(-1, x.shape[1]))
  if kind == "lora_b":  # [T, r, D] -> [T * D, r]
    return np.ascontiguousarray(x.transpose(0, 2, 1).reshape(-1, x.shape[1]))
  raise ValueError(kind)


# ---- config records ------------------------------------------------------------------------


def _record_values(record, path):
  if not (isinstance(record, dict) and "class" in record and isinstance(record.get("params"),
                                                                        dict)):
    raise InputError(f"{path}: no official 'config' record ({{'class': ..., 'params': ...}}); "
                     "cannot tell the architecture")
  values = {}
  for name, entry in record["params"].items():
    values[name] = entry["value"] if isinstance(entry, dict) and "value" in entry else entry
  return record["class"], values


def _pair(value, what, path):
  if isinstance(value, (int, np.integer)):
    return (int(value), int(value))
  value = tuple(int(v) for v in value)
  if len(value) != 2:
    raise InputError(f"{path}: {what} {value} is not a pair")
  return value


def config_from_record(record, state_dict, path) -> ml_collections.ConfigDict:
  """Our model config from an official config record and the tensors it comes with."""
  class_name, values = _record_values(record, path)
  if class_name not in (SIMPLECLICK_CLASS, GRACO_LORA_CLASS, GRACO_DUAL_CLASS):
    raise InputError(f"{path}: unsupported official model class {class_name}")
  backbone = dict(BACKBONE_DEFAULTS)
  backbone.update(values.get("backbone_params") or {})
  head = values.get("head_params") or {}
  neck = values.get("neck_params") or {}
  patch = _pair(backbone["patch_size"], "patch_size", path)
  if patch[0] != patch[1]:
    raise InputError(f"{path}: non-square patches {patch} are not supported")
  if not values.get("use_disks", False):
    raise InputError(f"{path}: the model encodes clicks as distance maps (use_disks=False); "
                     "graco-jax implements the disk encoding of SimpleClick/GraCo only")
  if head.get("upsample", "x1") != "x1":
    raise InputError(f"{path}: decode head upsample {head['upsample']!r}; only 'x1' is supported")
  mean_std = values.get("norm_mean_std")
  if mean_std is not None and not np.allclose(
      np.asarray(mean_std, np.float64), [[.485, .456, .406], [.229, .224, .225]]):
    raise InputError(f"{path}: unsupported input normalisation {mean_std}")
  if values.get("random_split", False):
    log.warning("%s: built with random_split=True, whose official forward shuffles tokens into "
                "random windows; graco-jax runs the fixed window schedule", path)
  dim, depth, heads = int(backbone["embed_dim"]), int(backbone["depth"]), int(backbone["num_heads"])
  size = next((name for name, s in SIZES.items() if s[:4] == (dim, depth, heads, patch[0])),
              "custom")
  config = make_model_config("base" if size == "custom" else size)
  config.size = size
  config.embed_dim, config.depth, config.num_heads = dim, depth, heads
  config.patch_size = patch[0]
  config.mlp_ratio = float(backbone["mlp_ratio"])
  config.crop_size = _pair(backbone["img_size"], "img_size", path)
  config.neck_dims = tuple(int(v) for v in neck.get("out_dims", config.neck_dims))
  config.head_channels = int(head.get("channels", config.head_channels))
  config.head_dropout = float(head.get("dropout_ratio", config.head_dropout))
  config.with_prev_mask = bool(values.get("with_prev_mask", False))
  config.disk_radius = float(values.get("norm_radius", 5))
  config.use_granularity = bool(backbone["enable_gra"])
  config.window_size = 224  # official windows are 224x224 pixels, hard-coded
  config.lora.rank = 0
  config.lora.targets = ("q", "v")
  lora_b = state_dict.get("backbone.blocks.0.attn.qkv.lora_B")
  if lora_b is not None:
    num_targets = lora_b.shape[0] // dim
    config.lora.targets = {2: ("q", "v"), 3: ("q", "k", "v")}.get(num_targets)
    if config.lora.targets is None or lora_b.shape[0] % dim:
      raise InputError(f"{path}: lora_B of shape {lora_b.shape} fits no LoRA target set")
    config.lora.rank = int(lora_b.shape[1])
  elif class_name != SIMPLECLICK_CLASS:
    raise InputError(f"{path}: a {class_name.rsplit('.', 1)[-1]} record without LoRA factors "
                     "(backbone.blocks.0.attn.qkv.lora_B); pass the LoRA file as lora_path")
  return config


def config_record(config) -> dict:
  """The official `serialize` record of the model `config` describes."""
  if config.window_size != 224:
    raise ValueError(f"window_size {config.window_size}: the official code only has 224")
  if config.lora.rank and (config.lora.rank != OFFICIAL_LORA_RANK
                           or tuple(config.lora.targets) != ("q", "v")):
    raise ValueError(f"LoRA rank {config.lora.rank} on {tuple(config.lora.targets)}: the official "
                     f"code only builds rank {OFFICIAL_LORA_RANK} on q and v")
  crop, patch, dims = list(config.crop_size), config.patch_size, list(config.neck_dims)
  params = {
      "use_disks": True,
      "norm_radius": config.disk_radius,
      "with_prev_mask": config.with_prev_mask,
      "backbone_params": {
          "img_size": crop, "patch_size": (patch, patch), "in_chans": 3,
          "embed_dim": config.embed_dim, "depth": config.depth, "num_heads": config.num_heads,
          "mlp_ratio": config.mlp_ratio, "qkv_bias": True,
          "enable_gra": bool(config.use_granularity)},
      "neck_params": {"in_dim": config.embed_dim, "out_dims": dims},
      # loss_decode is a training-only object; None keeps the record loadable with
      # torch.load(weights_only=True) and the head constructible.
      "head_params": {
          "in_channels": dims, "in_index": list(range(len(dims))),
          "dropout_ratio": config.head_dropout, "num_classes": 1, "loss_decode": None,
          "align_corners": False, "upsample": "x1", "channels": config.head_channels},
      "random_split": False,
      "with_aux_output": False,
      "norm_mean_std": ([.485, .456, .406], [.229, .224, .225]),
  }
  return {"class": GRACO_LORA_CLASS if config.lora.rank else SIMPLECLICK_CLASS,
          "params": {name: {"type": "builtin", "value": value, "specified": True}
                     for name, value in params.items()}}


# ---- import ---------------------------------------------------------------------------------


def _split_checkpoint(obj, path):
  if not (isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict)):
    found = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
    raise InputError(f"{path}: expected an official checkpoint {{'state_dict': ..., "
                     f"'config': ...}}; found {found}")
  state_dict, record = obj["state_dict"], obj.get("config")
  bad = [k for k, v in state_dict.items() if not isinstance(v, np.ndarray)]
  if bad:
    raise InputError(f"{path}: state_dict entries that are not tensors: {_names(bad)}")
  return dict(state_dict), record


def convert_state_dict(state_dict, config, path="<state dict>", strict=True):
  """Official tensors -> ({'params': ...}, ImportReport) for the model `config` describes.

  With `strict`, missing or unexpected tensors and shape mismatches raise, naming them all.
  """
  report = ImportReport()
  flat, shape_errors = {}, []
  layout = official_layout(config)
  expected = traverse_util.flatten_dict(param_shapes(config))
  known = {name for name, _, _ in layout}
  for name, ours, kind in layout:
    if name not in state_dict:
      report.missing.append(name)
      continue
    value = state_dict[name]
    key = ("params",) + ours
    if not _fits(kind, value.shape, expected[key].shape):
      shape_errors.append(f"{name} {tuple(value.shape)}")
      continue
    flat[key] = _to_ours(kind, value, config, name)
    report.loaded.append(name)
  for name, value in state_dict.items():
    if name in known:
      continue
    if name.startswith("phrase_encoder.") or name.endswith((".lora_A2", ".lora_B2")):
      report.phrase[name] = _phrase_tensor(name, value, config)
    elif _unused_by_segmenter(name):
      report.skipped[name] = "not used by the official forward pass"
    else:
      report.unexpected.append(name)
  targets = {("params",) + ours for _, ours, _ in layout}
  unmapped = ["/".join(k) for k in expected if k not in targets]
  if "backbone.pos_embed" in state_dict:
    report.skipped["backbone.pos_embed[:, 0]"] = "class-token row, not used by the forward pass"
  problems = _problems(report, shape_errors)
  if unmapped:
    problems.append(f"parameters with no official tensor: {_names(unmapped)}")
  if problems and strict:
    raise InputError(f"{path}: " + "; ".join(problems))
  for problem in problems:
    log.warning("%s: %s", path, problem)
  return traverse_util.unflatten_dict(flat), report


def _problems(report, shape_errors):
  problems = []
  if report.missing:
    problems.append(f"missing tensors: {_names(report.missing)}")
  if report.unexpected:
    problems.append(f"unexpected tensors: {_names(report.unexpected)}")
  if shape_errors:
    problems.append(f"tensors whose shape does not fit the config: {_names(shape_errors)}")
  return problems


def param_shapes(config):
  """Our variables as jax.ShapeDtypeStruct, without computing them."""
  return jax.eval_shape(lambda: init_params(config, jax.random.PRNGKey(0)))


def _fits(kind, official_shape, our_shape):
  """Whether an official tensor converts onto our parameter of `our_shape`.

  Position embeddings of any token count fit (they are interpolated to our grid).
  """
  if kind == "pos_embed":
    return (len(official_shape) == 3 and official_shape[0] == 1
            and official_shape[2] == our_shape[2])
  return tuple(official_shape) == _official_shape(kind, our_shape)


def _phrase_tensor(name, value, config):
  """Phrase-branch tensors in our layout where they have one (LoRA factors, projection)."""
  if name.endswith(".lora_A2"):
    return _to_ours("lora_a", value, config, name)
  if name.endswith(".lora_B2"):
    return _to_ours("lora_b", value, config, name)
  if name == "phrase_encoder.phrase2gra_proj.weight":
    return _to_ours("linear", value, config, name)
  return np.asarray(value)


def read_official(checkpoint_path, lora_path=None, strict=True, allow_unknown_globals=False):
  """(model_config, {'params': ...}, ImportReport) from official files.

  `lora_path`: a LoRA file (e.g. GraCo_base_lora.pth) applied on top of the base checkpoint;
  as in the official loader its config record defines the architecture and its tensors
  replace the base's.
  """
  state_dict, record = _split_checkpoint(
      load_pth(checkpoint_path, allow_unknown_globals), checkpoint_path)
  where = str(checkpoint_path)
  overridden = []
  if lora_path is not None:
    lora_state, lora_record = _split_checkpoint(
        load_pth(lora_path, allow_unknown_globals), lora_path)
    overridden = sorted(set(lora_state) & set(state_dict))
    state_dict.update(lora_state)
    record = lora_record if lora_record is not None else record
    where = f"{checkpoint_path} + {lora_path}"
  config = config_from_record(record, state_dict, where)
  params, report = convert_state_dict(state_dict, config, where, strict)
  report.overridden = overridden
  log.info("%s: %s", where, report.summary())
  return config, params, report


def import_official(checkpoint_path, lora_path=None):
  """(model_config, variables) from an official checkpoint (+ LoRA file); no torch needed.

  The pair runs as `create_model(model_config).apply(variables, ...)`. Raises, naming them,
  when tensors are missing or unexpected; see `read_official` for the full report.
  """
  config, params, _ = read_official(checkpoint_path, lora_path)
  return config, params


def load_mae_backbone(checkpoint_path, config, variables, allow_unknown_globals=False):
  """Backbone initialisation from an MAE pre-trained ViT ({'model': state_dict}).

  Replaces the patch embedding, position embedding (bicubically interpolated to the crop's
  grid, as the official loader does) and all blocks of `variables`; everything else (click
  embedding, granularity embedding, LoRA, neck, head) keeps its values. Returns
  (variables, ImportReport).
  """
  obj = load_pth(checkpoint_path, allow_unknown_globals)
  state_dict = obj.get("model") if isinstance(obj, dict) else None
  if not isinstance(state_dict, dict):
    raise InputError(f"{checkpoint_path}: expected an MAE checkpoint {{'model': state_dict}}")
  report = ImportReport()
  flat = traverse_util.flatten_dict(jax.tree_util.tree_map(np.asarray, variables))
  shape_errors = []
  layout = [row for row in backbone_layout(config, prefix="")
            if row[2] not in ("lora_a", "lora_b")]
  for name, ours, kind in layout:
    if name not in state_dict:
      report.missing.append(name)
      continue
    key = ("params", "backbone") + ours
    if not _fits(kind, state_dict[name].shape, flat[key].shape):
      shape_errors.append(f"{name} {tuple(state_dict[name].shape)}")
      continue
    flat[key] = _to_ours(kind, state_dict[name], config, name)
    report.loaded.append(name)
  known = {name for name, _, _ in layout}
  for name in state_dict:
    if name in known:
      continue
    if _unused_by_mae_backbone(name):
      report.skipped[name] = "not used by the segmentation backbone"
    else:
      report.unexpected.append(name)
  problems = _problems(report, shape_errors)
  if problems:
    raise InputError(f"{checkpoint_path}: " + "; ".join(problems))
  log.info("%s: %s", checkpoint_path, report.summary())
  return traverse_util.unflatten_dict(flat), report


# ---- export ---------------------------------------------------------------------------------


def _official_shape(kind, shape):
  """Official tensor shape for our parameter `shape` (the inverse of `_to_ours`)."""
  if kind == "linear":
    return tuple(shape[::-1])
  if kind == "conv":
    h, w, i, o = shape
    return (o, i, h, w)
  if kind == "conv_transpose":
    h, w, i, o = shape
    return (i, o, h, w)
  if kind == "pos_embed":
    return (1, shape[1] + 1, shape[2])
  if kind == "lora_a":
    t, d, r = shape
    return (t * r, d)
  if kind == "lora_b":
    t, r, d = shape
    return (t * d, r)
  return tuple(shape)


def official_shapes(config) -> dict:
  """{official name: shape} of every tensor in the official model's state dict for `config`."""
  ours = traverse_util.flatten_dict(param_shapes(config))
  shapes = {name: _official_shape(kind, ours[("params",) + path].shape)
            for name, path, kind in official_layout(config)}
  shapes.update(unused_official_tensors(config))
  return shapes


def official_state_dict(config, variables) -> dict:
  """{official name: float32 array} for every tensor of the official model, unused ones zero.

  The unused tensors (classifier, cls_token, ...) are written so the official model loads the
  file with strict=True; norms among them get unit scales.
  """
  flat = traverse_util.flatten_dict(variables)
  state = {}
  for name, ours, kind in official_layout(config):
    key = ("params",) + ours
    if key not in flat:
      raise ValueError(f"parameter {'/'.join(key)} (official {name}) is missing")
    state[name] = _to_official(kind, np.asarray(jax.device_get(flat[key])), config)
  for name, shape in unused_official_tensors(config).items():
    norm_scale = name.endswith("norm.weight") or (name.startswith("head.up_conv")
                                                   and name.split(".")[2] in ("1", "3")
                                                   and name.endswith("weight"))
    state[name] = (np.ones if norm_scale else np.zeros)(shape, np.float32)
  return state


def export_official(model_config, params, path, top="archive"):
  """Writes {'state_dict', 'config'} as a .pth file the official code loads.

  The file names only globals `torch.load(path, weights_only=True)` accepts; torch is not
  needed to write it. LoRA factors stay unmerged, as in official checkpoints.
  """
  record = config_record(model_config)
  state_dict = collections.OrderedDict(official_state_dict(model_config, params))
  save_pth(path, {"state_dict": state_dict, "config": record}, top=top)
  return path
