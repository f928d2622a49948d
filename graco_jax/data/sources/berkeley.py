"""Berkeley (96 images, 100 instances): the GrabCut layout with DIR/images and DIR/masks
(official `BerkeleyDataset`: same decoding, 128 ignored, > 128 object)."""

from graco_jax.data.image_io import read_mask
from graco_jax.data.sources.grabcut import PairedFolderSource, grabcut_mask


class BerkeleySource(PairedFolderSource):
  """`BerkeleySource(root)`; a grain `RandomAccessDataSource` of evaluation records."""

  def __init__(self, root: str, images_dir: str = "images", masks_dir: str = "masks"):
    super().__init__(root, images_dir, masks_dir, lambda p: grabcut_mask(read_mask(p)), "Berkeley")
