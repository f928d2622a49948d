"""Per-click latency of `graco-jax demo`: one batched forward of the 10 granularity bins.

Runs the demo's `Session` (zoom-in + flip predictor, 10 trajectories) on a generated image with a
random-init model: the first click's time is reported apart (it compiles), the steady state is
the median over the later clicks. Prints one JSON object.

  python benchmarks/demo_latency.py --config configs/graco.py:size=tiny --config configs/graco.py:size=base
"""

import argparse
import json
import platform
import time

import jax
import numpy as np

from graco_jax import config_utils, predictor as predictor_lib
from graco_jax.demo.session import Session
from graco_jax.model import init_params
from graco_jax.segment import generated_image

CLICKS = [(160, 200, True), (40, 60, False), (150, 250, True), (250, 200, False),
          (120, 150, True), (200, 300, False)]


def measure(config_spec: str, height: int, width: int) -> dict:
  model_config = config_utils.load_config(config_spec).model
  predictor = predictor_lib.for_model(model_config, init_params(model_config,
                                                                jax.random.PRNGKey(0)))
  session = Session(predictor, bool(model_config.use_granularity))
  session.set_image(generated_image(height, width))
  start = time.perf_counter()
  session.click(*CLICKS[0])
  first = time.perf_counter() - start
  steady = [session.click(*click) for click in CLICKS[1:]]
  return {"config": config_spec, "size": model_config.size,
          "crop": list(model_config.crop_size), "image": [height, width],
          "bins_per_forward": session.num_instances, "first_click_s": round(first, 3),
          "steady_click_s_median": round(float(np.median(steady)), 3),
          "compile_s_estimate": round(first - float(np.median(steady)), 3),
          "steady_click_s": [round(s, 3) for s in steady]}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", action="append", required=True)
  parser.add_argument("--height", type=int, default=320)
  parser.add_argument("--width", type=int, default=480)
  args = parser.parse_args()
  results = [measure(c, args.height, args.width) for c in args.config]
  print(json.dumps({"device": str(jax.devices()[0]), "machine": platform.processor() or
                    platform.machine(), "results": results}, indent=2))


if __name__ == "__main__":
  main()
