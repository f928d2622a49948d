"""SBD evaluation instances (official `SBDEvaluationDataset`: 2,857 val images, 6,671 instances).

Layout: DIR/img/<name>.jpg, DIR/inst/<name>.mat (`GTinst.Segmentation`: 0 background, k on
instance k), DIR/<split>.txt. One record per (image, instance id), instance ids in increasing
order; no buggy-mask filter at evaluation. The .mat reader is shared with the training source
(`sbd_train.read_sbd_instances`).
"""


import numpy as np

from graco_jax import io
from graco_jax.data.image_io import read_image_uint8
from graco_jax.data.sources.sbd_train import read_sbd_instances
from graco_jax.errors import InputError, MissingInputError


def read_split(root: str, split: str) -> list:
  """Image names listed in DIR/<split>.txt."""
  path = io.join(root, f"{split}.txt")
  if not io.isfile(path):
    raise MissingInputError(f"{path}: SBD image list not found (expected img/, inst/, {split}.txt)")
  names = [line.strip() for line in io.read_text(path).splitlines() if line.strip()]
  if not names:
    raise InputError(f"{path}: empty image list")
  return names


class SBDEvalSource:
  """`SBDEvalSource(root, split='val')`; a grain `RandomAccessDataSource` of instance records."""

  def __init__(self, root: str, split: str = "val"):
    self.root = root
    self.items = []
    for name in read_split(root, split):
      instances = read_sbd_instances(io.join(root, "inst", f"{name}.mat"))
      self.items.extend((name, int(i)) for i in np.unique(instances) if i > 0)

  def __len__(self) -> int:
    return len(self.items)

  def __repr__(self) -> str:
    return f"SBDEvalSource({self.root!r}, {len(self)} instances)"

  def __getitem__(self, index) -> dict:
    name, instance_id = self.items[int(index)]
    image = read_image_uint8(io.join(self.root, "img", f"{name}.jpg"))
    mat_path = io.join(self.root, "inst", f"{name}.mat")
    instances = read_sbd_instances(mat_path)
    if instances.shape != image.shape[:2]:
      raise InputError(f"{mat_path}: mask {instances.shape} does not match image {image.shape[:2]}")
    return {"image": image, "mask": (instances == instance_id).astype(np.int8), "image_id": name,
            "object_id": instance_id, "granularity": np.float32(1.0)}
