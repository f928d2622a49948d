"""Minimal stand-ins for what the official GraCo code imports but PyPI cannot give us here.

`write(root)` writes these packages under `root` (the benchmark puts it on sys.path after the
official tree). Each provides the names the official modules import at import time, and real
behaviour only where the code paths the side-by-side benchmark runs need it:

  mmcv         ConvModule (conv + optional norm + activation, mmcv's child names `conv`,
               `bn`/`gn`/`ln`/`in`, `activate`, so state dicts load), build_conv_layer,
               build_norm_layer, BaseModule (= nn.Module), Registry / build_from_cfg, identity
               auto_fp16 / force_fp32, get_logger, mkdir_or_exist, get_dist_info; file I/O and
               module-wrapper helpers of the Swin checkpoint loader only raise.
  timm         timm.models.layers: to_2tuple, DropPath (stochastic depth), trunc_normal_.
  torchvision  transforms.ToTensor (torchvision's semantics for numpy/PIL input) and Compose;
               the CLIP / SAM image transforms (Resize, CenterCrop, Normalize, functional.resize,
               to_pil_image) exist for import and raise if called.
  albumentations  training augmentation base classes and registries for import only.
  pkg_resources   `packaging`, which the CLIP module reads (setuptools >= 81 dropped it).

Nothing here is official code: the classes follow the documented interfaces of those libraries.
"""

import os
import textwrap

_MMCV_INIT = '''
"""Stand-in for the parts of mmcv (1.x) the official GraCo model imports."""
__version__ = "0.0+graco-jax-standin"

from .utils import mkdir_or_exist


def load(file, *args, **kwargs):
  raise NotImplementedError("mmcv stand-in: mmcv.load is not provided")
'''

_MMCV_UTILS = '''
import logging
import os


class Registry:
  """Name -> class registry with mmcv's register_module / build / get interface."""

  def __init__(self, name, build_func=None, parent=None, scope=None):
    self._name = name
    self._module_dict = {}
    self.parent = parent
    self.build_func = build_func

  @property
  def name(self):
    return self._name

  @property
  def module_dict(self):
    return self._module_dict

  def __len__(self):
    return len(self._module_dict)

  def __contains__(self, key):
    return self.get(key) is not None

  def get(self, key):
    if key in self._module_dict:
      return self._module_dict[key]
    return self.parent.get(key) if self.parent is not None else None

  def _register(self, module, module_name=None, force=False):
    names = module_name or module.__name__
    for name in ([names] if isinstance(names, str) else names):
      if not force and name in self._module_dict:
        raise KeyError(f"{name} is already registered in {self._name}")
      self._module_dict[name] = module

  def register_module(self, name=None, force=False, module=None):
    if module is not None:
      self._register(module, name, force)
      return module

    def decorator(cls):
      self._register(cls, name, force)
      return cls
    return decorator

  def build(self, cfg, default_args=None):
    if self.build_func is not None:
      return self.build_func(cfg, self, default_args)
    return build_from_cfg(cfg, self, default_args)


def build_from_cfg(cfg, registry, default_args=None):
  args = dict(cfg)
  for key, value in (default_args or {}).items():
    args.setdefault(key, value)
  obj_type = args.pop("type")
  obj_cls = registry.get(obj_type) if isinstance(obj_type, str) else obj_type
  if obj_cls is None:
    raise KeyError(f"{obj_type} is not in the {registry.name} registry")
  return obj_cls(**args)


def get_logger(name, log_file=None, log_level=logging.INFO, file_mode="w"):
  logger = logging.getLogger(name)
  logger.setLevel(log_level)
  return logger


def mkdir_or_exist(dir_name, mode=0o777):
  if dir_name:
    os.makedirs(os.path.expanduser(dir_name), mode=mode, exist_ok=True)
'''

_MMCV_CNN_INIT = '''
import torch.nn as nn

from mmcv.utils import Registry

MODELS = Registry("model")

_NORMS = {"BN": ("bn", nn.BatchNorm2d), "BN2d": ("bn", nn.BatchNorm2d),
          "SyncBN": ("bn", nn.SyncBatchNorm), "GN": ("gn", nn.GroupNorm),
          "LN": ("ln", nn.LayerNorm), "IN": ("in", nn.InstanceNorm2d)}
_ACTIVATIONS = {"ReLU": nn.ReLU, "LeakyReLU": nn.LeakyReLU, "GELU": nn.GELU,
                "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh}


def build_conv_layer(cfg, *args, **kwargs):
  cfg = dict(cfg or {"type": "Conv2d"})
  kind = cfg.pop("type")
  if kind not in ("Conv", "Conv2d"):
    raise NotImplementedError(f"mmcv stand-in: conv type {kind!r}")
  return nn.Conv2d(*args, **kwargs, **cfg)


def build_norm_layer(cfg, num_features, postfix=""):
  """Returns (name, layer) as mmcv does: name is the norm's abbreviation plus postfix."""
  cfg = dict(cfg)
  kind = cfg.pop("type")
  requires_grad = cfg.pop("requires_grad", True)
  cfg.setdefault("eps", 1e-5)
  if kind not in _NORMS:
    raise NotImplementedError(f"mmcv stand-in: norm type {kind!r}")
  abbr, cls = _NORMS[kind]
  if kind == "GN":
    layer = cls(num_channels=num_features, **cfg)
  else:
    layer = cls(num_features, **cfg)
  for param in layer.parameters():
    param.requires_grad = requires_grad
  return abbr + str(postfix), layer


class ConvModule(nn.Module):
  """conv -> optional norm -> optional activation (mmcv's default order and child names)."""

  def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
               groups=1, bias="auto", conv_cfg=None, norm_cfg=None, act_cfg=dict(type="ReLU"),
               inplace=True, with_spectral_norm=False, padding_mode="zeros",
               order=("conv", "norm", "act")):
    super().__init__()
    if with_spectral_norm or padding_mode != "zeros" or tuple(order) != ("conv", "norm", "act"):
      raise NotImplementedError("mmcv stand-in: ConvModule supports conv, norm, act only")
    self.with_norm = norm_cfg is not None
    self.with_activation = act_cfg is not None
    if bias == "auto":
      bias = not self.with_norm
    self.conv = build_conv_layer(conv_cfg, in_channels, out_channels, kernel_size,
                                 stride=stride, padding=padding, dilation=dilation,
                                 groups=groups, bias=bias)
    if self.with_norm:
      self.norm_name, norm = build_norm_layer(norm_cfg, out_channels)
      self.add_module(self.norm_name, norm)
    if self.with_activation:
      act_cfg = dict(act_cfg)
      kind = act_cfg.pop("type")
      if kind not in _ACTIVATIONS:
        raise NotImplementedError(f"mmcv stand-in: activation {kind!r}")
      if kind in ("ReLU", "LeakyReLU"):
        act_cfg.setdefault("inplace", inplace)
      self.activate = _ACTIVATIONS[kind](**act_cfg)
    # mmcv initialises the conv with kaiming_normal (fan_out, relu) and a zero bias.
    nn.init.kaiming_normal_(self.conv.weight, mode="fan_out", nonlinearity="relu")
    if self.conv.bias is not None:
      nn.init.zeros_(self.conv.bias)

  @property
  def norm(self):
    return getattr(self, self.norm_name) if self.with_norm else None

  def forward(self, x, activate=True, norm=True):
    x = self.conv(x)
    if norm and self.with_norm:
      x = self.norm(x)
    if activate and self.with_activation:
      x = self.activate(x)
    return x
'''

_MMCV_BRICKS_REGISTRY = '''
from mmcv.utils import Registry

ATTENTION = Registry("attention")
'''

_MMCV_RUNNER_BASE_MODULE = '''
import torch.nn as nn


class BaseModule(nn.Module):
  """mmcv's BaseModule without its init_cfg machinery: a plain nn.Module."""

  def __init__(self, init_cfg=None):
    super().__init__()
    self.init_cfg = init_cfg

  def init_weights(self):
    pass
'''

_MMCV_RUNNER_INIT = '''
from .base_module import BaseModule


def auto_fp16(apply_to=None, out_fp32=False):
  return lambda fn: fn


def force_fp32(apply_to=None, out_fp16=False):
  return lambda fn: fn


def get_dist_info():
  return 0, 1
'''

_MMCV_FILEIO = '''
class FileClient:
  def __init__(self, *args, **kwargs):
    raise NotImplementedError("mmcv stand-in: FileClient is not provided")


def load(file, *args, **kwargs):
  raise NotImplementedError("mmcv stand-in: mmcv.fileio.load is not provided")
'''

_MMCV_PARALLEL = '''
def is_module_wrapper(module):
  from torch.nn.parallel import DataParallel, DistributedDataParallel
  return isinstance(module, (DataParallel, DistributedDataParallel))
'''

_TIMM_LAYERS = '''
"""timm.models.layers helpers the official Swin module imports."""
import collections.abc
import math

import torch
import torch.nn as nn


def to_2tuple(x):
  if isinstance(x, collections.abc.Iterable) and not isinstance(x, str):
    return tuple(x)
  return (x, x)


def drop_path(x, drop_prob=0.0, training=False, scale_by_keep=True):
  if drop_prob == 0.0 or not training:
    return x
  keep = 1 - drop_prob
  mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
  if keep > 0.0 and scale_by_keep:
    mask.div_(keep)
  return x * mask


class DropPath(nn.Module):
  """Stochastic depth per sample."""

  def __init__(self, drop_prob=0.0, scale_by_keep=True):
    super().__init__()
    self.drop_prob = drop_prob
    self.scale_by_keep = scale_by_keep

  def forward(self, x):
    return drop_path(x, self.drop_prob, self.training, self.scale_by_keep)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
  return nn.init.trunc_normal_(tensor, mean=mean, std=std, a=a, b=b)
'''

_TORCHVISION_TRANSFORMS = '''
"""torchvision.transforms: ToTensor and Compose; the rest exists for import only."""
import enum

import numpy as np
import torch


class InterpolationMode(enum.Enum):
  NEAREST = "nearest"
  BILINEAR = "bilinear"
  BICUBIC = "bicubic"


class Compose:
  def __init__(self, transforms):
    self.transforms = transforms

  def __call__(self, x):
    for t in self.transforms:
      x = t(x)
    return x


class ToTensor:
  """HWC (or HW) numpy / PIL image -> CHW tensor; uint8 is scaled to [0, 1] floats."""

  def __call__(self, pic):
    array = np.asarray(pic)
    if array.ndim == 2:
      array = array[:, :, None]
    tensor = torch.from_numpy(np.ascontiguousarray(array.transpose((2, 0, 1)))).contiguous()
    if tensor.dtype == torch.uint8:
      return tensor.to(dtype=torch.get_default_dtype()).div(255)
    return tensor


class _Unavailable:
  def __init__(self, *args, **kwargs):
    pass

  def __call__(self, *args, **kwargs):
    raise NotImplementedError(f"torchvision stand-in: {type(self).__name__} is not provided")


class Resize(_Unavailable):
  pass


class CenterCrop(_Unavailable):
  pass


class Normalize(_Unavailable):
  pass
'''

_TORCHVISION_FUNCTIONAL = '''
def resize(*args, **kwargs):
  raise NotImplementedError("torchvision stand-in: transforms.functional.resize")


def to_pil_image(*args, **kwargs):
  raise NotImplementedError("torchvision stand-in: transforms.functional.to_pil_image")
'''

_ALBU_INTERFACE = '''
"""Albumentations base classes, for import only (the benchmark builds its batches itself)."""


def to_tuple(param, low=None, bias=None):
  if isinstance(param, (list, tuple)):
    value = tuple(param)
  elif low is None:
    value = (-param, param)
  else:
    value = (low, param) if low < param else (param, low)
  if bias is not None:
    value = tuple(bias + x for x in value)
  return value


class BasicTransform:
  def __init__(self, always_apply=False, p=0.5):
    self.always_apply = always_apply
    self.p = p

  def __call__(self, *args, **kwargs):
    raise NotImplementedError("albumentations stand-in: augmentation is not provided")


class DualTransform(BasicTransform):
  pass


class ImageOnlyTransform(BasicTransform):
  pass
'''

_ALBU_INIT = '''
from .core.transforms_interface import BasicTransform, DualTransform, ImageOnlyTransform, to_tuple


class ReplayCompose:
  def __init__(self, *args, **kwargs):
    raise NotImplementedError("albumentations stand-in: ReplayCompose is not provided")

  @staticmethod
  def _restore_for_replay(*args, **kwargs):
    raise NotImplementedError("albumentations stand-in: ReplayCompose is not provided")


Compose = ReplayCompose
'''

_ALBU_FUNCTIONAL = '''
def resize(*args, **kwargs):
  raise NotImplementedError("albumentations stand-in: functional.resize")


def keypoint_scale(*args, **kwargs):
  raise NotImplementedError("albumentations stand-in: functional.keypoint_scale")
'''

_PKG_RESOURCES = '''
"""pkg_resources stand-in: only the `packaging` attribute the CLIP module reads."""
try:
  import packaging
  import packaging.version
except ImportError:  # torch vendors a copy
  from torch._vendor import packaging
  import torch._vendor.packaging.version
'''

FILES = {
    "mmcv/__init__.py": _MMCV_INIT,
    "mmcv/utils/__init__.py": _MMCV_UTILS,
    "mmcv/cnn/__init__.py": _MMCV_CNN_INIT,
    "mmcv/cnn/bricks/__init__.py": "",
    "mmcv/cnn/bricks/registry.py": _MMCV_BRICKS_REGISTRY,
    "mmcv/runner/__init__.py": _MMCV_RUNNER_INIT,
    "mmcv/runner/base_module.py": _MMCV_RUNNER_BASE_MODULE,
    "mmcv/fileio/__init__.py": _MMCV_FILEIO,
    "mmcv/parallel/__init__.py": _MMCV_PARALLEL,
    "timm/__init__.py": "",
    "timm/models/__init__.py": "",
    "timm/models/layers/__init__.py": _TIMM_LAYERS,
    "torchvision/__init__.py": '__version__ = "0.0+graco-jax-standin"\nfrom . import transforms\n',
    "torchvision/transforms/__init__.py": _TORCHVISION_TRANSFORMS,
    "torchvision/transforms/functional.py": _TORCHVISION_FUNCTIONAL,
    "albumentations/__init__.py": _ALBU_INIT,
    "albumentations/core/__init__.py": "",
    "albumentations/core/serialization.py": "SERIALIZABLE_REGISTRY = {}\n",
    "albumentations/core/transforms_interface.py": _ALBU_INTERFACE,
    "albumentations/augmentations/__init__.py": "from . import functional\n",
    "albumentations/augmentations/functional.py": _ALBU_FUNCTIONAL,
    "pkg_resources/__init__.py": _PKG_RESOURCES,
}


def write(root):
  """Writes the stand-in packages under `root`; returns the top-level package names."""
  for relative, source in FILES.items():
    path = os.path.join(root, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
      f.write(textwrap.dedent(source).lstrip("\n"))
  return sorted({relative.split("/")[0] for relative in FILES})
