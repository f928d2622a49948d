"""Every dataset, registered in one place: training sources by `config.data`, evaluation
datasets by name.

Training (`build_source(config.data)`, `config.data.source` names the dataset):
  'sbd'         SBD train (data.path), per image, object chosen after augmentation
  'proposals'   an AGG proposal store (data.path; images from the data config stored in it)
  'gcl'         GCL data: the concatenation of data.parts, any of 'gt' (GT part masks with
                granularity at data.gt_path: a PascalPart root (has Annotations_Part/; its
                train list, objects at 1.0 and parts, `PascalPartTrainParts`) or else a
                proposal store), 'agg' (AGG proposals at data.agg_path) and 'objects'
                (SBD whole objects at data.path, granularity 1.0)
  'synthetic'   `SyntheticSource` (data.level, data.num_images, data.image_size, data.seed)
  'synthetic_scenes'  synthetic images with all their objects (object-level training)
  'tfds:NAME'   a prepared TFDS dataset with instance masks, e.g. 'tfds:coco/2017_panoptic'
                or 'tfds:lvis' (data.path: the TFDS data dir, empty for TFDS's default; split
                data.split), per image like SBD (`graco_jax.data.sources.tfds_coco`)

Evaluation (`eval_source(name, path)`, one record per instance): the names of `EVAL_SOURCES`
(the paper's benchmarks, each in its standard layout under `path`) and 'tfds:NAME'.

A new dataset is a module in sources/ plus one line here.
"""

import ml_collections

from graco_jax import io
from graco_jax.data import proposal_store
from graco_jax.data.sources import (berkeley, coco_mval, davis, grabcut, partimagenet,
                                    pascalpart, sa1b, sbd, sbd_train, synthetic, tfds_coco)
from graco_jax.data.sources.concat import ConcatSource
from graco_jax.data.sources.proposals import ProposalSource
from graco_jax.errors import InputError, MissingInputError

TFDS_PREFIX = "tfds:"


def proposal_source(store_dir: str, image_source=None) -> ProposalSource:
  """A proposal store as training records; its images come from `image_source`, else from the
  data config recorded in the store's meta.json, else from the stored image paths."""
  if image_source is None:
    data = proposal_store.read_meta(store_dir).get("data")
    if data:
      image_source = build_source(ml_collections.ConfigDict(data))
  return ProposalSource(store_dir, image_source)


def _sbd(c):
  return sbd_train.SBDTrainSource(c.path, c.get("split", "train"),
                                  c.get("buggy_mask_thresh", 0.08))


def _gt_parts(c):
  if io.isdir(io.join(c.gt_path, "Annotations_Part")):
    return pascalpart.PascalPartTrainParts(c.gt_path)
  return proposal_source(c.gt_path)


def _gcl(c):
  parts = {"gt": lambda: _gt_parts(c), "agg": lambda: proposal_source(c.agg_path),
           "objects": lambda: _sbd(c)}
  unknown = set(c.parts) - set(parts)
  if unknown:
    raise InputError(f"unknown GCL data parts {sorted(unknown)}; choose from {sorted(parts)}")
  return ConcatSource([parts[name]() for name in c.parts])


def _synthetic(c):
  return synthetic.SyntheticSource(c.get("level", "object"), c.get("split", "train"),
                                   c.num_images, tuple(c.image_size), c.get("seed", 0))


def _synthetic_scenes(c):
  return synthetic.SceneInstances(synthetic.SyntheticScenes(
      c.get("split", "train"), c.num_images, tuple(c.image_size), c.get("seed", 0)))


TRAIN_SOURCES = {
    "sbd": _sbd,
    "proposals": lambda c: proposal_source(c.path),
    "gcl": _gcl,
    "synthetic": _synthetic,
    "synthetic_scenes": _synthetic_scenes,
}


def build_source(data_config: ml_collections.ConfigDict):
  """The training source of `config.data`."""
  name = data_config.source
  if name.startswith(TFDS_PREFIX):
    return tfds_coco.TFDSInstanceImages(name[len(TFDS_PREFIX):], data_config.split,
                                        data_config.path)
  if name not in TRAIN_SOURCES:
    raise InputError(f"unknown data source {name!r}; choose from {sorted(TRAIN_SOURCES)} "
                     f"or {TFDS_PREFIX}NAME")
  return TRAIN_SOURCES[name](data_config)


EVAL_SOURCES = {
    "GrabCut": grabcut.GrabCutSource,
    "Berkeley": berkeley.BerkeleySource,
    "DAVIS": davis.DavisSource,
    "SBD": sbd.SBDEvalSource,
    "PascalPart": pascalpart.PascalPartSource,
    "PartImageNet": partimagenet.PartImageNetSource,
    "SA1B": sa1b.SA1BSource,
    "COCO_MVal": coco_mval.COCOMValSource,
}


def eval_source(name: str, path: str, tfds_split: str = "validation"):
  """The evaluation dataset `name` read from `path` (for 'tfds:NAME': the TFDS data dir)."""
  if name.startswith(TFDS_PREFIX):
    return tfds_coco.TFDSInstanceSource(name[len(TFDS_PREFIX):], tfds_split, path)
  if name not in EVAL_SOURCES:
    raise InputError(f"unknown dataset {name!r}; choose from {sorted(EVAL_SOURCES)} "
                     f"or {TFDS_PREFIX}NAME")
  if not path:
    raise InputError(f"no path for dataset {name}: set --config.eval.paths.{name}=DIR")
  if not io.isdir(path):
    raise MissingInputError(f"{name} folder {path} does not exist",
                            hint=f"set --config.eval.paths.{name}=DIR to the dataset's folder")
  return EVAL_SOURCES[name](path)
