"""Training config fields shared by every `configs/*.py`, with the official GraCo recipe as
the defaults, and the `get_config(arg)` argument syntax of the experiment configs.

Argument syntax: comma-separated; the first item may be a bare word (the data variant, e.g.
'gt', 'agg', 'gt+agg'); the rest are key=value with Python literals, e.g.
'agg,lora=0,gra_embed=False,rank=16'.
"""

import ast

import ml_collections

from graco_jax.errors import InputError


def parse_arg(arg, defaults: dict) -> dict:
  """'agg,rank=16' -> {**defaults, 'variant': 'agg', 'rank': 16}; unknown keys are errors."""
  options = dict(defaults)
  if not arg:
    return options
  for i, item in enumerate(part.strip() for part in str(arg).split(",")):
    if not item:
      continue
    key, sep, text = item.partition("=")
    if not sep:
      if i != 0 or "variant" not in defaults:
        raise InputError(f"config argument {arg!r}: {item!r} is not of the form key=value")
      key, text = "variant", repr(item)
    if key not in defaults:
      raise InputError(f"config argument {arg!r}: unknown option {key!r}; "
                       f"known: {sorted(defaults)}")
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      value = text
    options[key] = value
  return options


def train_fields(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Adds seed / train / optimizer / data (official recipe defaults) to a config with .model."""
  config.seed = 0
  config.train = ml_collections.ConfigDict({
      "batch_size": 32,
      "num_epochs": 55,
      "num_steps": -1,  # > 0 overrides num_epochs
      "steps_per_epoch": -1,  # -1: len(source) // batch_size (official drop_last epochs)
      "loss": "normalized_focal",  # or 'bce'
      "max_num_points": 24,
      "max_num_next_clicks": 3,
      "prev_mask_drop_prob": 0.0,  # GraCo/SimpleClick trainer default
      "grad_accum_steps": 1,
      "compute_dtype": "bfloat16",  # float32 master parameters either way
      "init_from": "",  # graco-jax checkpoint dir, official .pth, or MAE .pth (backbone only)
      "num_devices": -1,  # -1: every device of every process
      "log_every": 50,
      "image_every": 1000,  # TensorBoard prediction images every N steps (0: none)
      "num_images": 4,  # examples per image grid
      "checkpoint_every": 1000,
      "keep_checkpoints": 3,
      "async_checkpoints": True,
      "progress": True,
      "preempt_at_step": 0,  # > 0: the last process sends itself SIGTERM then (drills, tests)
  })
  config.optimizer = ml_collections.ConfigDict({
      "mode": "gcl",  # 'gcl': LoRA + granularity embedding only; 'full': all but `freeze`
      "freeze": (),
      "name": "adam",
      "learning_rate": 5e-5,
      "b1": 0.9,
      "b2": 0.999,
      "eps": 1e-8,
      "weight_decay": 0.0,
      "layer_decay": 1.0,  # < 1: layer-wise decay (official --layerwise-decay: 0.75, wd 0.02)
      "schedule": "multistep",  # or 'cosine', 'constant'
      "milestones": (50, 55),  # epochs (official MultiStepLR)
      "gamma": 0.1,
      "warmup_epochs": 0.0,  # cosine only
      "grad_clip_norm": 0.0,
  })
  config.data = ml_collections.ConfigDict({
      "source": "sbd",
      "path": "",
      "split": "train",
      "sampling": "shuffle",
      "weights_file": "",
      "weights_gamma": 1.25,
      "augment": {"scale_range": (0.75, 1.25), "photometric": True},
      "sampler": {"prob_gamma": 0.8, "merge_objects_prob": 0.15, "max_num_merged_objects": 2,
                  "min_object_area": 80},
      "keep_background_prob": 0.01,
      "default_granularity": 1.0,  # for records of unknown granularity
      "num_threads": 8,
      "prefetch": 16,
      "num_workers": 0,  # > 0: grain worker processes
  })
  return config


def synthetic_data(config: ml_collections.ConfigDict, level: str, num_images: int,
                   image_size: int) -> None:
  """Points config.data at the synthetic world (CPU configs, tests, the quickstart)."""
  if level == "object":
    config.data.source = "synthetic_scenes"
  else:
    config.data.source = "synthetic"
    config.data.level = level
    config.data.sampling = "inverse_granularity"
  config.data.num_images = num_images
  config.data.image_size = (image_size, image_size)
  config.data.sampler.min_object_area = 20
  config.data.num_threads = 2
  config.data.prefetch = 4


DATA_MODES = ("real", "synthetic", "cpu")


def _sized_data(config, data: str, level: str, crop) -> ml_collections.ConfigDict:
  """data 'real': the paper's datasets; 'synthetic': the synthetic world at the real crop size
  (pipeline checks); 'cpu': a few-minute run on the synthetic world at crop 128."""
  if data == "synthetic":
    synthetic_data(config, level, num_images=1000, image_size=256)
    config.train.batch_size = 8
    config.train.compute_dtype = "float32"
    config.train.num_epochs = 10
    config.optimizer.milestones = (8, 10)
  elif data == "cpu":
    cpu_sized(config, level, crop_size=crop)
  elif data != "real":
    raise InputError(f"config option data={data!r}: choose from {DATA_MODES}")
  return config


def graco_config(arg=None) -> ml_collections.ConfigDict:
  """GCL fine-tuning of an object-level SimpleClick (the family configs/graco.py).

  Options: size (tiny | base | large | huge), crop (the model's crop size; 448, or 128 with
  data=cpu), data (real | synthetic | cpu); variant 'gt' | 'agg' | 'gt+agg' (Table 1 rows);
  lora (False: full fine-tuning, Table 3), gra_embed (False: no granularity embedding,
  Table 3), rank (Table C), objects (mix in SBD whole objects at granularity 1.0, as the
  official loader does for images without proposals).
  """
  from graco_jax.model import model_config
  o = parse_arg(arg, {"variant": "agg", "size": "base", "crop": None, "data": "real",
                      "lora": True, "gra_embed": True, "rank": 8, "objects": True})
  if o["variant"] not in ("gt", "agg", "gt+agg"):
    raise InputError(f"config argument {arg!r}: variant must be gt, agg or gt+agg")
  crop = int(o["crop"] or (128 if o["data"] == "cpu" else 448))
  lora = bool(o["lora"]) and int(o["rank"]) > 0
  config = ml_collections.ConfigDict()
  config.model = model_config(o["size"], granularity=bool(o["gra_embed"]),
                              lora_rank=int(o["rank"]) if lora else 0, crop_size=crop)
  train_fields(config)
  config.optimizer.mode = "gcl" if lora else "full"
  config.data.source = "gcl"
  config.data.parts = tuple(o["variant"].split("+")) + (("objects",) if o["objects"] else ())
  config.data.gt_path = ("set --config.data.gt_path to a PascalPart root (Annotations_Part/) "
                        "or a GT part proposal store")
  config.data.agg_path = "set --config.data.agg_path to the AGG proposal store"
  config.data.path = "set --config.data.path to SBD/dataset"
  # The official loader's rule; 'inverse_granularity' balances the bins over all records instead.
  config.data.sampling = "per_image_inverse_granularity"
  return _sized_data(config, o["data"], "all", crop)


def simpleclick_config(arg=None) -> ml_collections.ConfigDict:
  """Object-level SimpleClick training on SBD (the family configs/simpleclick.py).

  Options: size, crop and data as in graco_config; lrd (layer-wise decay 0.75 with weight
  decay 0.02, official --layerwise-decay).
  """
  from graco_jax.model import model_config
  o = parse_arg(arg, {"size": "base", "crop": None, "data": "real", "lrd": False})
  crop = int(o["crop"] or (128 if o["data"] == "cpu" else 448))
  config = ml_collections.ConfigDict()
  config.model = model_config(o["size"], granularity=False, lora_rank=0, crop_size=crop)
  train_fields(config)
  config.optimizer.mode = "full"
  if o["lrd"]:
    config.optimizer.layer_decay = 0.75
    config.optimizer.weight_decay = 0.02
  config.data.source = "sbd"
  config.data.path = "set --config.data.path to SBD/dataset"
  return _sized_data(config, o["data"], "object", crop)


def cpu_sized(config: ml_collections.ConfigDict, level: str, crop_size: int = 128,
              num_steps: int = 300) -> ml_collections.ConfigDict:
  """Shrinks a tiny-model config to a CPU run on the synthetic world (quickstart, tests)."""
  config.model.crop_size = (crop_size, crop_size)
  config.model.window_size = 64 if crop_size % 64 == 0 else crop_size
  synthetic_data(config, level, num_images=200, image_size=crop_size)
  config.data.augment.scale_range = (0.9, 1.1)
  config.train.batch_size = 8
  config.train.compute_dtype = "float32"  # bfloat16 matmuls are slow on CPUs
  config.train.num_steps = num_steps
  config.train.log_every = 25
  config.train.checkpoint_every = 100
  config.train.max_num_points = 4
  config.optimizer.schedule = "constant"
  config.optimizer.learning_rate = 1e-3 if config.optimizer.mode == "gcl" else 3e-4
  return config
