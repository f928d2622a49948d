"""Official-model numerics and key sets, against the official architecture written in torch.

The torch model below follows the official code's structure (module names, 224-pixel windows,
LoRA merge through a grouped conv1d, SimpleFPN sequential indices, mmcv ConvModule names) so
its state dict has exactly the official keys. Needs torch (CPU build), an optional test extra.
"""

import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from flax import traverse_util  # noqa: E402

from graco_jax.checkpoints import (export_official, import_official, load_mae_backbone,  # noqa: E402
                                   save_pth)
from graco_jax.checkpoints.official import (backbone_layout, config_from_record,  # noqa: E402
                                            config_record, convert_state_dict, official_shapes,
                                            param_shapes)
from graco_jax.interaction.clicks import from_official_points  # noqa: E402
from graco_jax.model import SIZES, create_model, model_config  # noqa: E402


class PatchEmbed(nn.Module):

  def __init__(self, patch, in_chans, dim):
    super().__init__()
    self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch, stride=patch)

  def forward(self, x):
    return self.proj(x).flatten(2).transpose(1, 2)


class LoRAQKV(nn.Linear):
  """loralib.MergedLinear(dim, 3 dim, r, lora_alpha=1, enable_lora=[True, False, True]): in eval
  mode (merge_weights=True) the update is folded into the weight, in training added to the
  output."""

  def __init__(self, dim, rank):
    super().__init__(dim, 3 * dim)
    self.rank = rank
    if rank:
      self.lora_A = nn.Parameter(torch.zeros(2 * rank, dim))
      self.lora_B = nn.Parameter(torch.zeros(2 * dim, rank))

  def forward(self, x):
    if not self.rank:
      return F.linear(x, self.weight, self.bias)
    delta = F.conv1d(self.lora_A.unsqueeze(0), self.lora_B.unsqueeze(-1), groups=2).squeeze(0)
    dim = self.in_features
    padded = torch.cat([delta[:dim], torch.zeros_like(delta[:dim]), delta[dim:]], dim=0)
    if self.training:
      return F.linear(x, self.weight, self.bias) + x @ padded.T * (1.0 / self.rank)
    return F.linear(x, self.weight + padded * (1.0 / self.rank), self.bias)


class Attention(nn.Module):

  def __init__(self, dim, heads, rank):
    super().__init__()
    self.heads = heads
    self.qkv = LoRAQKV(dim, rank) if rank else nn.Linear(dim, 3 * dim)
    self.proj = nn.Linear(dim, dim)

  def forward(self, x):
    b, n, c = x.shape
    qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    attn = ((q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5).softmax(dim=-1)
    return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):

  def __init__(self, dim, hidden):
    super().__init__()
    self.fc1 = nn.Linear(dim, hidden)
    self.fc2 = nn.Linear(hidden, dim)

  def forward(self, x):
    return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):

  def __init__(self, dim, heads, mlp_ratio, rank):
    super().__init__()
    self.norm1 = nn.LayerNorm(dim, eps=1e-6)
    self.norm2 = nn.LayerNorm(dim, eps=1e-6)
    self.attn = Attention(dim, heads, rank)
    self.mlp = Mlp(dim, int(dim * mlp_ratio))

  def forward(self, x):
    x = x + self.attn(self.norm1(x))
    return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):

  def __init__(self, img_size, patch, dim, depth, heads, mlp_ratio, rank, enable_gra):
    super().__init__()
    self.grid = (img_size[0] // patch, img_size[1] // patch)
    self.patch = patch
    self.patch_embed = PatchEmbed(patch, 3, dim)
    self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
    self.pos_embed = nn.Parameter(torch.zeros(1, self.grid[0] * self.grid[1] + 1, dim))
    nn.init.normal_(self.pos_embed, std=.02)
    self.blocks = nn.Sequential(*[Block(dim, heads, mlp_ratio, rank) for _ in range(depth)])
    self.fc_norm = nn.LayerNorm(dim, eps=1e-6)
    self.enable_gra = enable_gra
    if enable_gra:
      self.gra_embed = nn.Embedding(10, dim)
    self.head = nn.Linear(dim, 1000)

  def patchify(self, x):
    b, n, c = x.shape
    gh, gw = self.grid
    wh, ww = gh // (224 // self.patch), gw // (224 // self.patch)
    x = x.view(b, wh, gh // wh, ww, gw // ww, c).permute(0, 1, 3, 2, 4, 5).contiguous()
    return x.view(b * wh * ww, gh * gw // (wh * ww), c)

  def unpatchify(self, x):
    b, n, c = x.shape
    gh, gw = self.grid
    wh, ww = gh // (224 // self.patch), gw // (224 // self.patch)
    x = x.view(b // (wh * ww), wh, ww, gh // wh, gw // ww, c)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(b // (wh * ww), wh * ww * n, c)

  def forward_backbone(self, x, additional, gra):
    x = self.patch_embed(x) + additional
    if self.enable_gra and gra is not None:
      idx = torch.clamp(gra * 10 - 1, 0, 9).long()
      x = x + self.gra_embed(idx).repeat(1, x.shape[1], 1)
    x = x + self.pos_embed[:, 1:]
    depth = len(self.blocks)
    per_group = 6 if depth == 12 else depth // 4
    patchified = False
    for i in range(1, depth + 1):
      if i % per_group:
        if not patchified:
          x = self.patchify(x)
          patchified = True
      else:
        x = self.unpatchify(x)
        patchified = False
      x = self.blocks[i - 1](x)
    return x


class SimpleFPN(nn.Module):

  def __init__(self, in_dim, out_dims):
    super().__init__()
    c4, c8, c32 = max(out_dims[0] * 2, in_dim // 2), max(out_dims[1], in_dim // 2), max(
        out_dims[3], in_dim * 2)
    self.down_4 = nn.Sequential(
        nn.ConvTranspose2d(in_dim, c4, 2, stride=2), nn.GroupNorm(1, c4), nn.GELU(),
        nn.ConvTranspose2d(c4, c4 // 2, 2, stride=2), nn.GroupNorm(1, c4 // 2),
        nn.Conv2d(c4 // 2, out_dims[0], 1), nn.GroupNorm(1, out_dims[0]), nn.GELU())
    self.down_8 = nn.Sequential(
        nn.ConvTranspose2d(in_dim, c8, 2, stride=2), nn.GroupNorm(1, c8),
        nn.Conv2d(c8, out_dims[1], 1), nn.GroupNorm(1, out_dims[1]), nn.GELU())
    self.down_16 = nn.Sequential(nn.Conv2d(in_dim, out_dims[2], 1),
                                 nn.GroupNorm(1, out_dims[2]), nn.GELU())
    self.down_32 = nn.Sequential(
        nn.Conv2d(in_dim, c32, 2, stride=2), nn.GroupNorm(1, c32),
        nn.Conv2d(c32, out_dims[3], 1), nn.GroupNorm(1, out_dims[3]), nn.GELU())

  def forward(self, x):
    return [self.down_4(x), self.down_8(x), self.down_16(x), self.down_32(x)]


class ConvModule(nn.Module):
  """mmcv ConvModule with norm_cfg=None: conv (with bias) + ReLU."""

  def __init__(self, cin, cout):
    super().__init__()
    self.conv = nn.Conv2d(cin, cout, 1)

  def forward(self, x):
    return F.relu(self.conv(x))


def _up_conv(cin, cout):
  return nn.Sequential(nn.ConvTranspose2d(cin, cout, 2, stride=2), nn.GroupNorm(1, cout),
                       nn.Conv2d(cout, cout, 1), nn.GroupNorm(1, cout), nn.GELU())


class SegHead(nn.Module):
  """SwinTransfomerSegHead, upsample 'x1'."""

  def __init__(self, in_channels, channels):
    super().__init__()
    self.convs = nn.ModuleList([ConvModule(c, channels) for c in in_channels])
    self.fusion_conv = ConvModule(channels * len(in_channels), channels)
    self.up_conv1 = _up_conv(channels, channels // 2)
    self.up_conv2 = _up_conv(channels // 2, channels // 4)
    self.conv_seg = nn.Conv2d(channels, 1, 1)

  def forward(self, inputs):
    size = inputs[0].shape[2:]
    outs = [F.interpolate(conv(x), size=size, mode="bilinear", align_corners=False)
            for conv, x in zip(self.convs, inputs)]
    return self.conv_seg(self.fusion_conv(torch.cat(outs, dim=1)))


class OfficialModel(nn.Module):
  """PlainVitModel / PlainVitModel_lora: (image+prev mask, points, gra) -> logits."""

  def __init__(self, img_size, patch, dim, depth, heads, mlp_ratio, rank, enable_gra, neck_dims,
               head_channels, radius=5.0):
    super().__init__()
    self.radius = radius
    self.patch_embed_coords = PatchEmbed(patch, 3, dim)
    self.backbone = VisionTransformer(img_size, patch, dim, depth, heads, mlp_ratio, rank,
                                      enable_gra)
    self.neck = SimpleFPN(dim, neck_dims)
    self.head = SegHead(neck_dims, head_channels)

  def disks(self, points, rows, cols):
    """Official DistMaps with use_disks=True: [B, 2P, 3] points -> [B, 2, H, W]."""
    b, n2, _ = points.shape
    yx = points[..., :2].reshape(-1, 2)
    invalid = yx.max(dim=1)[0] < 0
    ry, rx = torch.meshgrid(torch.arange(rows, dtype=torch.float32),
                            torch.arange(cols, dtype=torch.float32), indexing="ij")
    d = (ry[None] - yx[:, 0, None, None])**2 + (rx[None] - yx[:, 1, None, None])**2
    d[invalid] = 1e6
    d = d.view(b, 2, n2 // 2, rows, cols).min(dim=2)[0]
    return (d <= self.radius**2).float()

  def forward(self, image, prev_mask, points, gra=None):
    mean = torch.tensor([.485, .456, .406])[None, :, None, None]
    std = torch.tensor([.229, .224, .225])[None, :, None, None]
    x = (image - mean) / std
    coords = torch.cat([prev_mask, self.disks(points, image.shape[2], image.shape[3])], dim=1)
    tokens = self.backbone.forward_backbone(x, self.patch_embed_coords(coords), gra)
    b, n, c = tokens.shape
    gh, gw = self.backbone.grid
    features = self.neck(tokens.transpose(-1, -2).reshape(b, c, gh, gw))
    logits = self.head(features)
    return F.interpolate(logits, size=image.shape[2:], mode="bilinear", align_corners=True)


# A small official-architecture model: 448 crop with four 224-pixel windows, global blocks
# every depth // 4 = 2, every layer type of the base model.
SMALL = dict(img_size=(448, 448), patch=16, dim=64, depth=8, heads=4, mlp_ratio=4.0,
             neck_dims=(16, 32, 64, 128), head_channels=32)
SIMPLECLICK = "isegm.model.is_plainvit_model.PlainVitModel"
GRACO = "isegm.model.is_plainvit_graco_model_lora.PlainVitModel_lora"


def _record(class_name, arch, enable_gra):
  """An official `serialize` config record, written out by hand as the official code would."""
  def entry(value):
    return {"type": "builtin", "value": value, "specified": True}
  dims = list(arch["neck_dims"])
  return {"class": class_name, "params": {
      "use_disks": entry(True), "norm_radius": entry(5), "with_prev_mask": entry(True),
      "backbone_params": entry({
          "img_size": list(arch["img_size"]), "patch_size": (arch["patch"], arch["patch"]),
          "in_chans": 3, "embed_dim": arch["dim"], "depth": arch["depth"],
          "num_heads": arch["heads"], "mlp_ratio": 4, "qkv_bias": True,
          "enable_gra": enable_gra}),
      "neck_params": entry({"in_dim": arch["dim"], "out_dims": dims}),
      "head_params": entry({"in_channels": dims, "in_index": [0, 1, 2, 3], "dropout_ratio": 0.1,
                            "num_classes": 1, "align_corners": False, "upsample": "x1",
                            "channels": arch["head_channels"]}),
      "random_split": entry(False),
      "with_aux_output": {"type": "builtin", "value": False, "specified": False},
  }}


def _official_model(rank, enable_gra, seed=0):
  """Random official model; norms and LoRA factors randomised too so every tensor matters."""
  torch.manual_seed(seed)
  model = OfficialModel(SMALL["img_size"], SMALL["patch"], SMALL["dim"], SMALL["depth"],
                        SMALL["heads"], SMALL["mlp_ratio"], rank, enable_gra,
                        SMALL["neck_dims"], SMALL["head_channels"])
  with torch.no_grad():
    for name, p in model.named_parameters():
      if "lora" in name:
        p.normal_(0, 0.2)
      elif "norm" in name or ".1." in name or ".3." in name or ".4." in name or ".6." in name:
        p.add_(0.1 * torch.randn_like(p))
  return model.eval()


def _inputs(seed=0):
  rng = np.random.default_rng(seed)
  h, w = SMALL["img_size"]
  image = rng.uniform(0, 1, (2, 3, h, w)).astype(np.float32)
  prev = rng.uniform(0, 1, (2, 1, h, w)).astype(np.float32)
  points = np.full((2, 6, 3), -1, np.float32)  # 3 positive rows, 3 negative rows
  points[0, 0], points[0, 1], points[0, 3] = (100, 200, 0), (300, 120, 1), (40, 400, 2)
  points[1, 0], points[1, 3] = (224, 224, 0), (10, 5, 1)
  return image, prev, points


def _ours(model_config_, variables, image, prev, points, gra):
  clicks = from_official_points(points, capacity=4)
  logits = create_model(model_config_).apply(
      variables, jnp.asarray(image.transpose(0, 2, 3, 1)), clicks,
      jnp.asarray(prev.transpose(0, 2, 3, 1)),
      None if gra is None else jnp.asarray(gra[:, 0]))
  return np.asarray(logits)[..., 0]


def _relative_error(ours, ref):
  return float(np.abs(ours - ref).max() / np.abs(ref).max())


@pytest.mark.parametrize("class_name,rank,enable_gra", [(SIMPLECLICK, 0, False),
                                                        (GRACO, 8, True)])
def test_import_reproduces_official_logits(tmp_path, class_name, rank, enable_gra):
  model = _official_model(rank, enable_gra)
  path = tmp_path / "last_checkpoint.pth"
  torch.save({"state_dict": model.state_dict(), "config": _record(class_name, SMALL, enable_gra)},
             path)
  config, variables = import_official(str(path))
  assert (config.embed_dim, config.depth, config.lora.rank, config.use_granularity) == (
      SMALL["dim"], SMALL["depth"], rank, enable_gra)
  image, prev, points = _inputs()
  grans = [None, np.asarray([[0.35], [0.9]], np.float32)] if enable_gra else [None]
  for gra in grans:
    with torch.no_grad():
      ref = model(torch.from_numpy(image), torch.from_numpy(prev), torch.from_numpy(points),
                  None if gra is None else torch.from_numpy(gra)).numpy()[:, 0]
    ours = _ours(config, variables, image, prev, points, gra)
    assert _relative_error(ours, ref) < 1e-4, gra


def test_export_loads_in_official_model_with_weights_only(tmp_path):
  model = _official_model(8, True, seed=1)
  path = tmp_path / "official.pth"
  torch.save({"state_dict": model.state_dict(), "config": _record(GRACO, SMALL, True)}, path)
  config, variables = import_official(str(path))
  export_official(config, variables, str(tmp_path / "exported.pth"))
  loaded = torch.load(tmp_path / "exported.pth", weights_only=True)
  fresh = _official_model(8, True, seed=2)
  fresh.load_state_dict(loaded["state_dict"], strict=True)  # every key, no extras
  original = model.state_dict()
  for name, value in loaded["state_dict"].items():
    if name in ("backbone.pos_embed", "backbone.cls_token") or name.startswith(
        ("backbone.fc_norm", "backbone.head.", "head.up_conv")):
      continue  # unused by the forward pass; exported as zeros / unit scales
    assert torch.equal(value, original[name]), name
  assert torch.equal(loaded["state_dict"]["backbone.pos_embed"][:, 1:],
                     original["backbone.pos_embed"][:, 1:])
  assert loaded["config"]["class"] == GRACO
  image, prev, points = _inputs(1)
  gra = torch.tensor([[0.5], [0.1]])
  args = (torch.from_numpy(image), torch.from_numpy(prev), torch.from_numpy(points), gra)
  with torch.no_grad():
    np.testing.assert_array_equal(fresh.eval()(*args).numpy(), model(*args).numpy())


@pytest.mark.parametrize("size", ["base", "large", "huge"])
def test_every_official_key_maps(size):
  dim, depth, heads, patch, neck, head = SIZES[size]
  for rank, gra in ((8, True), (0, False)):
    torch.set_default_device("meta")  # shapes only, no memory
    try:
      official = OfficialModel((448, 448), patch, dim, depth, heads, 4.0, rank, gra, neck, head)
    finally:
      torch.set_default_device("cpu")
    expected = {k: tuple(v.shape) for k, v in official.state_dict().items()}
    ours = official_shapes(model_config(size, granularity=gra, lora_rank=rank))
    assert ours == expected
    # and the import accepts exactly that state dict (tensors are zero-stride stand-ins)
    state = {k: np.broadcast_to(np.float32(0), s) for k, s in expected.items()}
    record = config_record(model_config(size, granularity=gra, lora_rank=rank))
    config = config_from_record(record, state, size)
    _, report = convert_state_dict(state, config, size)
    assert len(report.loaded) + len(report.skipped) - 1 == len(expected)  # -1: pos class row


def test_mae_position_embedding_interpolated_like_official(tmp_path):
  config = model_config("tiny", crop_size=448)
  flat = traverse_util.flatten_dict(param_shapes(config))
  variables = traverse_util.unflatten_dict(
      {k: np.zeros(v.shape, np.float32) for k, v in flat.items()})
  rng = np.random.default_rng(0)
  mae = {}
  for name, path, kind in backbone_layout(config, prefix=""):
    shape = flat[("params", "backbone") + path].shape
    if kind in ("lora_a", "lora_b"):
      continue
    if kind == "linear":
      shape = shape[::-1]
    elif kind == "conv":
      shape = (shape[3], shape[2], shape[0], shape[1])
    elif kind == "pos_embed":
      shape = (1, 14 * 14 + 1, 96)
    mae[name] = rng.normal(size=shape).astype(np.float32)
  path = str(tmp_path / "mae.pth")
  save_pth(path, {"model": mae})
  loaded, _ = load_mae_backbone(path, config, variables)
  # official interpolate_pos_embed: bicubic, align_corners=False, class row kept aside
  tokens = torch.from_numpy(mae["pos_embed"][:, 1:]).reshape(1, 14, 14, 96).permute(0, 3, 1, 2)
  ref = F.interpolate(tokens, size=(28, 28), mode="bicubic", align_corners=False)
  ref = ref.permute(0, 2, 3, 1).flatten(1, 2).numpy()
  np.testing.assert_allclose(loaded["params"]["backbone"]["pos_embed"], ref, atol=1e-5)
