"""Fixtures shared by the data tests (importlib mode keeps test modules from importing each other)."""

import numpy as np
import pytest
from scipy.io import savemat


@pytest.fixture
def write_pascalpart_annotation():
  """`write(path, name, objects)` writes a PascalPart `.mat` the way the real files nest it:
  `anno.objects` is a [1, N] struct array of (class, class_ind, mask, parts), `parts` a [1, M]
  struct array of (part_name, mask); `objects` is [(class, mask, [(part, mask), ...]), ...]."""
  def write(path, name, objects):
    part_dtype = [("part_name", "O"), ("mask", "O")]
    obj_dtype = [("class", "O"), ("class_ind", "O"), ("mask", "O"), ("parts", "O")]
    array = np.zeros((1, len(objects)), dtype=obj_dtype)
    for i, (cls, mask, parts) in enumerate(objects):
      part_array = np.zeros((1, len(parts)), dtype=part_dtype)
      for j, (part, part_mask) in enumerate(parts):
        part_array[0, j] = (part, part_mask)
      array[0, i] = (cls, 1, mask, part_array)
    savemat(path, {"anno": {"imname": name, "objects": array}})
  return write
