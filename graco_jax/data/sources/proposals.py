"""Grain source over an AGG proposal store: one record per proposal, ready for GCL training.

The image of a proposal is read back from the image source the store was generated from (its
record `source_index`) when one is given (`graco_jax.data.registry.proposal_source` rebuilds it
from the data config in the store's meta.json), else from the stored `image_path`. Records follow the
shared dataset interface, with the proposal as 'mask' and the combined granularity as
'granularity', plus 'scale_granularity' and 'semantic_granularity' (raw values, Eqs. 4-5).

Unlike the official SBD proposal loader, nothing is cached or edited in place: a thin proposal
never empties the other proposals of its image.
"""

import grain.python as grain
import numpy as np

from graco_jax.data import proposal_store as store_lib
from graco_jax.data.image_io import read_image
from graco_jax.errors import InputError


class ProposalSource(grain.RandomAccessDataSource):
  """`ProposalSource(store_dir, image_source=None)`; a grain `RandomAccessDataSource`."""

  def __init__(self, store_dir: str, image_source=None):
    self.store_dir = store_dir
    self.meta = store_lib.read_meta(store_dir)
    self.image_source = image_source
    if image_source is not None and len(image_source) != self.meta["num_records"]:
      raise InputError(
          f"proposal store {store_dir} was generated from a source of {self.meta['num_records']} "
          f"records ({self.meta.get('source')}), the given image source has {len(image_source)}")
    self._proposals = store_lib.read_proposals(store_dir)

  def __len__(self) -> int:
    return len(self._proposals)

  def __repr__(self) -> str:
    return f"ProposalSource({self.store_dir!r}, {len(self)} proposals)"

  def granularities(self) -> np.ndarray:
    """Combined granularity of every proposal, [N] float32 (for granularity-balanced sampling)."""
    return np.asarray([p["granularity"] for p in self._proposals], np.float32)

  def image_ids(self) -> np.ndarray:
    """[N] image id of every proposal (for per-image sampling)."""
    return np.asarray([p["image_id"] for p in self._proposals], object)

  def _image_and_ignore(self, p):
    if self.image_source is not None:
      record = self.image_source[p["source_index"]]
      # Per-image records (with an 'instances' map) hold every object of the image.
      same_object = "instances" in record or int(record["object_id"]) == p["object_id"]
      if str(record["image_id"]) != p["image_id"] or not same_object:
        raise InputError(
            f"proposal store {self.store_dir}: record {p['source_index']} of the image source "
            f"is {record['image_id']}/{record['object_id']}, the store expects "
            f"{p['image_id']}/{p['object_id']}: not the source it was generated from")
      return np.asarray(record["image"], np.uint8), np.asarray(record["mask"]) < 0
    if p["image_path"] is None:
      raise InputError(f"proposal store {self.store_dir} records neither its data config nor "
                       f"an image path for {p['image_id']}: pass the image source it was "
                       "generated from")
    image = np.round(read_image(p["image_path"]) * 255).astype(np.uint8)
    return image, np.zeros(image.shape[:2], bool)

  def __getitem__(self, i) -> dict:
    p = self._proposals[i]
    image, ignore = self._image_and_ignore(p)
    if image.shape[:2] != (p["height"], p["width"]):
      raise InputError(f"proposal store {self.store_dir}: image {p['image_id']} is "
                       f"{image.shape[:2]}, its proposal mask is {(p['height'], p['width'])}")
    proposal = store_lib.decode_mask(p["rle"])
    mask = proposal.astype(np.int8)
    mask[ignore & ~proposal] = -1  # the source's ignore region stays ignored
    return {
        "image": image, "mask": mask, "image_id": p["image_id"], "object_id": p["object_id"],
        "granularity": np.float32(p["granularity"]),
        "scale_granularity": np.float32(p["scale_granularity"]),
        "semantic_granularity": np.float32(p["semantic_granularity"]),
    }
