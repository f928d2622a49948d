"""COCO-MVal (800 COCO instances of the interactive segmentation literature).

The evaluation code of SimpleClick / ClickSEG reads it with the DAVIS reader: DIR/img/<name>.jpg
and DIR/gt/<name>.png, any non-zero colour is the object.
"""

from graco_jax.data.sources.davis import DavisSource


class COCOMValSource(DavisSource):
  """`COCOMValSource(root)`; a grain `RandomAccessDataSource` of evaluation records."""

  def __init__(self, root: str, images_dir: str = "img", masks_dir: str = "gt"):
    super().__init__(root, images_dir, masks_dir)
    self.name = "COCO-MVal"
