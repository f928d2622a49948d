"""AGG throughput: the batched, sharded engine vs the official one-instance host-loop design.

Both run the same model, the same post-processing and granularity estimator on the same
synthetic instances; compilation is excluded (a warm-up pass runs first). The host-loop design
is the official generator's: one instance at a time, every prediction brought back to the host,
clicks drawn on the host with numpy, one semantic forward per proposal.

  python benchmarks/agg_throughput.py [--size tiny] [--input-size 128] [--instances 32]
      [--batch-size 16]
Prints one JSON object (proposals/s of both designs and their ratio).
"""

import argparse
import functools
import json
import os
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from graco_jax import parallel
from graco_jax.agg import generate as gen
from graco_jax.agg import granularity as gran_lib
from graco_jax.agg import postprocess
from graco_jax.data import proposal_store as store
from graco_jax.data.sources.synthetic import SceneInstances, SyntheticScenes
from graco_jax.interaction.clicks import add_click, empty_clicks
from graco_jax.model import create_model, init_params, model_config
from graco_jax import predictor as predictor_lib


def host_loop(config, model, variables, source, instances):
  """The one-instance design; returns the number of proposals made."""
  size = config.input_size
  predict = jax.jit(functools.partial(predictor_lib.plain(model.apply).probs, variables))
  count = 0
  for index, (source_index, object_id) in enumerate(instances):
    record = source[source_index]
    obj = np.asarray(record["instances"]) == object_id
    rng = np.random.default_rng([config.seed, index])
    image = jnp.asarray(gen._resize_image(np.asarray(record["image"]), size)[None])
    small = gen._resize_mask(obj, size)
    y, x = np.argwhere(small)[rng.integers(small.sum())]
    clicks = add_click(empty_clicks(1, 1 + config.max_iters), jnp.array([y]), jnp.array([x]),
                       jnp.array([True]))
    points = [(y, x)]
    probs = np.asarray(predict(image, clicks, jnp.asarray(small[None, ..., None], jnp.float32)))
    min_area = config.min_click_area * size * size / obj.size
    for _ in range(rng.integers(config.min_iters, config.max_iters + 1)):
      pred = probs[0, ..., 0] > config.threshold
      if pred.sum() >= min_area:
        yy, xx = np.nonzero(pred)
        far = np.ones(len(yy), bool)
        for py, px in points:
          far &= (yy - py) ** 2 + (xx - px) ** 2 >= config.min_click_distance ** 2
        if far.any():
          k = rng.choice(np.flatnonzero(far))
          points.append((yy[k], xx[k]))
          clicks = add_click(clicks, jnp.array([yy[k]]), jnp.array([xx[k]]), jnp.array([False]))
      probs = np.asarray(predict(image, clicks, jnp.asarray(probs)))
    pred = gen._resize_probs(probs[0, ..., 0], obj.shape) > config.threshold
    for rank, mask, scale, is_object in postprocess.make_proposals(
        pred, obj, rng, min_component_area=config.min_component_area,
        min_complement_scale=config.min_complement_scale, fill=config.fill_holes):
      if not is_object:
        region = gen._click_region_at(gran_lib.click_region(mask), size)
        y, x = np.argwhere(region)[rng.integers(region.sum())]
        one = add_click(empty_clicks(1, 1), jnp.array([y]), jnp.array([x]), jnp.array([True]))
        sem = np.asarray(predict(image, one, jnp.zeros((1, size, size, 1))))[0, ..., 0]
        semantic = gran_lib.semantic_granularity(gen._resize_probs(sem, obj.shape), mask, obj,
                                                 scale)
      else:
        semantic = 1.0
      store.make_proposal(index=index, rank=rank, source_index=source_index,
                          image_id=record["image_id"], object_id=object_id, image_path=None,
                          mask=mask, object_area=obj.sum(), scale_granularity=scale,
                          semantic_granularity=semantic,
                          granularity=gran_lib.combine(scale, semantic, config.lam))
      count += 1
  return count


def main(argv=None):
  parser = argparse.ArgumentParser()
  parser.add_argument("--size", default="tiny")
  parser.add_argument("--input-size", type=int, default=128)
  parser.add_argument("--instances", type=int, default=32)
  parser.add_argument("--batch-size", type=int, default=16)
  args = parser.parse_args(argv)

  mc = model_config(args.size, granularity=False, lora_rank=0, crop_size=args.input_size)
  mc.window_size = min(224, args.input_size)
  model = create_model(mc)
  variables = init_params(mc, jax.random.PRNGKey(0))
  source = SceneInstances(SyntheticScenes("train", 64, (args.input_size, args.input_size)))
  config = gen.default_config()
  config.input_size = args.input_size
  config.batch_size = args.batch_size
  scale = args.input_size ** 2 / (500 * 375)  # official thresholds, per SBD-sized image
  config.min_click_area = round(400 * scale)
  config.min_component_area = int(1500 * scale)
  config.min_click_distance = 5.0
  mesh = parallel.make_mesh()

  with tempfile.TemporaryDirectory() as tmp:
    instances = gen.instance_list(source, tmp)[:args.instances]
    # Warm-up (compilation) on one batch, then the timed run on a fresh store.
    gen.generate(config, predictor_lib.plain(create_model(mc).apply, variables), source, os.path.join(tmp, "warm"), mesh=mesh,
                 progress=False, limit=args.batch_size)
    summary = gen.generate(config, predictor_lib.plain(create_model(mc).apply, variables), source, os.path.join(tmp, "run"), mesh=mesh,
                           progress=False, limit=args.instances)
    engine_s = summary["seconds"]  # the batch loop, without the summary PNGs
    engine_n = summary["num_proposals"]
  host_loop(config, model, variables, source, instances[:2])  # warm-up
  start = time.perf_counter()
  loop_n = host_loop(config, model, variables, source, instances)
  loop_s = time.perf_counter() - start
  result = {
      "device": jax.devices()[0].device_kind, "devices": jax.device_count(),
      "model": args.size, "input_size": args.input_size, "instances": len(instances),
      "batch_size": args.batch_size,
      "engine": {"proposals": engine_n, "seconds": round(engine_s, 3),
                 "proposals_per_s": round(engine_n / engine_s, 2)},
      "host_loop": {"proposals": loop_n, "seconds": round(loop_s, 3),
                    "proposals_per_s": round(loop_n / loop_s, 2)},
  }
  result["speedup"] = round(result["engine"]["proposals_per_s"]
                            / max(result["host_loop"]["proposals_per_s"], 1e-9), 2)
  print(json.dumps(result, indent=2))
  return 0


if __name__ == "__main__":
  sys.exit(main())
