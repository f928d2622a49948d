"""Checkpoint I/O throughput: official .pth export/import and orbax save/restore, ViT-B 448.

  python benchmarks/checkpoint_io.py [--size base] [--workdir /tmp/ckpt_bench]

Prints one JSON object: seconds per operation and the file size. Parameters are random
numpy arrays (no model compile), so the numbers are I/O and layout conversion only.
"""

import argparse
import json
import os
import shutil
import tempfile
import time

import jax
import numpy as np

from graco_jax.checkpoints import export_official, import_official, load_for_inference, save_params
from graco_jax.checkpoints.official import param_shapes
from graco_jax.model import model_config, param_count


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--size", default="base")
  parser.add_argument("--workdir", default=None)
  args = parser.parse_args()
  workdir = args.workdir or tempfile.mkdtemp(prefix="ckpt_bench_")
  config = model_config(args.size)
  rng = np.random.default_rng(0)
  variables = jax.tree_util.tree_map(
      lambda s: rng.standard_normal(s.shape, np.float32), param_shapes(config))
  pth = os.path.join(workdir, "model.pth")
  results = {"size": args.size, "params": param_count(variables), "device": str(jax.devices()[0])}

  start = time.perf_counter()
  export_official(config, variables, pth)
  results["export_official_s"] = time.perf_counter() - start
  results["pth_bytes"] = os.path.getsize(pth)
  start = time.perf_counter()
  _, imported = import_official(pth)
  results["import_official_s"] = time.perf_counter() - start
  start = time.perf_counter()
  save_params(os.path.join(workdir, "orbax"), config, imported)
  results["orbax_save_s"] = time.perf_counter() - start
  start = time.perf_counter()
  _, restored = load_for_inference(os.path.join(workdir, "orbax"))
  jax.block_until_ready(restored)
  results["orbax_restore_s"] = time.perf_counter() - start
  print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in results.items()}))
  if args.workdir is None:
    shutil.rmtree(workdir)


if __name__ == "__main__":
  main()
