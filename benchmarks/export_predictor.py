"""`graco-jax export` costs: export time, artifact size, and load + first call in a fresh process.

  python benchmarks/export_predictor.py [--config configs/graco.py:size=base] [--batch 1]

Prints one JSON object. The weights are random (the official SimpleClick base weights are not
needed to time the graph); the load + first-call figures come from a fresh interpreter that
imports only jax and the loader, as an application would, and include XLA compilation.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np

from graco_jax import config_utils
from graco_jax.checkpoints.official import param_shapes
from graco_jax.export.build import export_predictor, write_export
from graco_jax.model import param_count

LOAD_AND_CALL = """
import json, sys, time
start = time.perf_counter()
import jax, numpy as np
from graco_jax.export import load
imported = time.perf_counter()
predict = load(sys.argv[1])
loaded = time.perf_counter()
inputs = [np.zeros([int(sys.argv[2]) if isinstance(d, str) else d for d in s["shape"]], s["dtype"])
          for s in predict.meta["inputs"]]
jax.block_until_ready(predict(*inputs))
first = time.perf_counter()
jax.block_until_ready(predict(*inputs))
second = time.perf_counter()
print(json.dumps({"import_s": imported - start, "load_s": loaded - imported,
                  "first_call_s": first - loaded, "second_call_s": second - first,
                  "device": str(jax.devices()[0])}))
"""


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument("--config", default="configs/graco.py:size=base")
  parser.add_argument("--granularities", default=None, choices=("input", "all"))
  parser.add_argument("--batch", type=int, default=1, help="batch of the timed calls")
  parser.add_argument("--workdir", default=None)
  args = parser.parse_args()
  model_config = config_utils.load_config(args.config).model
  rng = np.random.default_rng(0)
  variables = jax.tree_util.tree_map(
      lambda s: 0.02 * rng.standard_normal(s.shape, np.float32), param_shapes(model_config))
  path = os.path.join(args.workdir or tempfile.mkdtemp(prefix="export_bench_"), "model.jaxexport")

  start = time.perf_counter()
  exported, meta = export_predictor(model_config, variables, args.granularities)
  meta = write_export(path, exported, meta)
  export_s = time.perf_counter() - start

  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
       *filter(None, [os.environ.get("PYTHONPATH")])]))
  proc = subprocess.run([sys.executable, "-c", LOAD_AND_CALL, path, str(args.batch)],
                        capture_output=True, text=True, env=env, check=True)
  print(json.dumps({
      "config": args.config, "size": model_config.size, "crop": list(model_config.crop_size),
      "params": param_count(variables), "granularity": meta["granularity"],
      "batch": args.batch, "export_s": round(export_s, 2),
      "artifact_bytes": meta["artifact_bytes"], "sidecar_bytes": os.path.getsize(path + ".json"),
      **{k: round(v, 2) if isinstance(v, float) else v
         for k, v in json.loads(proc.stdout.splitlines()[-1]).items()},
  }, indent=2))


if __name__ == "__main__":
  main()
