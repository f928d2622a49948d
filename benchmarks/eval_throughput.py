"""Throughput of the batched, sharded NoC evaluator against the reference way of evaluating.

Batched: `run_click_protocol` with the model predictor (zoom-in + flip), one jitted program per
batch of instances, sharded over all devices. Reference (the official code's structure): one
instance at a time, a jitted forward per click (same predictor, batch 1), the next click placed
on the host with numpy / scipy's exact EDT between forwards. Both run every click (no early stop)
so clicks/s compare like for like. Prints one JSON object.

  python benchmarks/eval_throughput.py --config configs/eval_quick.py --batch-sizes 4,8 \
      --instances 16 [--grabcut ../shared/data/grabcut] [--config.model.dtype=bfloat16]
"""

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy import ndimage

from graco_jax import config_utils, hugepages, parallel, predictor as predictor_lib
from graco_jax.evaluation import noc
from graco_jax.interaction.clicks import add_click, empty_clicks
from graco_jax.model import create_model, init_params


def synthetic_instances(num, height, width, seed=0):
  """Images with a shaded ellipse each and its mask (uint8 images, int8 masks)."""
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[:height, :width]
  images, masks = [], []
  for _ in range(num):
    cy, cx = rng.uniform(0.3, 0.7) * height, rng.uniform(0.3, 0.7) * width
    ry, rx = rng.uniform(0.1, 0.3) * height, rng.uniform(0.1, 0.3) * width
    mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
    image = rng.integers(0, 80, (height, width, 3)).astype(np.uint8)
    image[mask] = rng.integers(120, 255, 3)
    images.append(image)
    masks.append(mask.astype(np.int8))
  return images, masks


def grabcut_instances(root, num):
  from graco_jax.data.sources.grabcut import GrabCutSource
  source = GrabCutSource(root)
  records = [source[i % len(source)] for i in range(num)]
  return [r["image"] for r in records], [r["mask"] for r in records]


def host_next_click(pred, mask, clicked):
  """Official Clicker rule on the host (scipy's exact EDT)."""
  gt, keep = mask == 1, mask != -1
  fn_dt = ndimage.distance_transform_edt(np.pad(gt & ~pred & keep, 1))[1:-1, 1:-1] * ~clicked
  fp_dt = ndimage.distance_transform_edt(np.pad(~gt & pred & keep, 1))[1:-1, 1:-1] * ~clicked
  positive = fn_dt.max() > fp_dt.max()
  dt = fn_dt if positive else fp_dt
  y, x = np.unravel_index(np.argmax(dt), dt.shape)
  return int(y), int(x), bool(positive)


def reference_eval(predictor, images, masks, max_clicks, pred_thr, granularity, init, step,
                   num_clicks=None):
  """One instance at a time; returns per-instance IoU lists and click traces."""
  all_ious, all_clicks = [], []
  for image, mask in zip(images, masks):
    h, w = mask.shape
    img = jnp.asarray(image[None] / 255.0, jnp.float32)
    state = init(predictor.variables, img, jnp.asarray([[h, w]], jnp.int32))
    clicks = empty_clicks(1, max_clicks)
    probs = jnp.zeros((1, h, w, 1), jnp.float32)
    pred = np.zeros((h, w), bool)
    clicked = np.zeros((h, w), bool)
    gra = None if granularity is None else jnp.asarray([granularity], jnp.float32)
    ious, trace = [], []
    for _ in range(num_clicks or max_clicks):
      y, x, positive = host_next_click(pred, mask, clicked)
      clicked[y, x] = True
      trace.append((y, x, positive))
      clicks = add_click(clicks, jnp.asarray([y]), jnp.asarray([x]), jnp.asarray([positive]))
      probs, state = step(predictor.variables, img, clicks, probs, gra, state)
      pred = np.asarray(probs)[0, ..., 0] > pred_thr
      keep = mask != -1
      ious.append(np.sum(pred & (mask == 1) & keep) / np.sum((pred | (mask == 1)) & keep))
    all_ious.append(ious)
    all_clicks.append(trace)
  return np.asarray(all_ious), all_clicks


def main():
  hugepages.reexec_with_huge_pages()  # as the graco-jax CLI runs
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="configs/eval_quick.py")
  parser.add_argument("--batch-sizes", default="4,8")
  parser.add_argument("--instances", type=int, default=16)
  parser.add_argument("--reference-instances", type=int, default=4)
  parser.add_argument("--max-clicks", type=int, default=None)
  parser.add_argument("--size", default="240,320", help="synthetic image size H,W")
  parser.add_argument("--grabcut", default=None, help="use real GrabCut instead of synthetic")
  args, overrides = parser.parse_known_args()
  config = config_utils.load_config(args.config, overrides)
  ev = config.eval
  max_clicks = args.max_clicks or ev.max_clicks
  model_config = config.model
  model = create_model(model_config)
  variables = init_params(model_config, jax.random.PRNGKey(0))
  mesh = parallel.make_mesh()
  variables = jax.device_put(variables, parallel.replicated(mesh))
  predictor = predictor_lib.zoom_in_flip(
      model.apply, variables, target_size=(ev.target_size, ev.target_size), with_flip=ev.with_flip,
      expansion_ratio=ev.expansion_ratio, min_crop_size=ev.min_crop_size)
  granularity = 0.5 if model_config.use_granularity else None
  if args.grabcut:
    images, masks = grabcut_instances(args.grabcut, args.instances)
  else:
    height, width = (int(v) for v in args.size.split(","))
    images, masks = synthetic_instances(args.instances, height, width)

  out = {"config": args.config, "device": jax.devices()[0].device_kind,
         "num_devices": jax.device_count(), "instances": len(images), "max_clicks": max_clicks,
         "image_size": [list(m.shape) for m in masks[:1]], "batched": []}
  batched_result = None
  for batch_size in (int(b) for b in args.batch_sizes.split(",")):
    kwargs = dict(max_clicks=max_clicks, pred_thr=ev.pred_thr, granularity=granularity,
                  mesh=mesh, target_iou=None, batch_size=batch_size,
                  bucket_multiple=ev.bucket_multiple)
    noc.run_click_protocol(predictor, images, masks, **kwargs)  # compiles every size bucket
    start = time.perf_counter()
    batched_result = noc.run_click_protocol(predictor, images, masks, **kwargs)
    seconds = time.perf_counter() - start
    out["batched"].append({"batch_size": batch_size, "seconds": seconds,
                           "instances_per_s": len(images) / seconds,
                           "clicks_per_s": len(images) * max_clicks / seconds})

  num_ref = min(args.reference_instances, len(images))
  init, step = jax.jit(predictor.init), jax.jit(predictor.apply)
  # The reference runs on one device, like the official code (no mesh-sharded arguments).
  predictor = predictor._replace(variables=jax.device_put(variables, jax.devices()[0]))
  shapes = {m.shape: i for i, m in enumerate(masks[:num_ref])}
  # Compile every shape first (2 clicks: the second call sees the step's own output state
  # layout), so the timing excludes compilation.
  for i in shapes.values():
    reference_eval(predictor, images[i:i + 1], masks[i:i + 1], max_clicks, ev.pred_thr,
                   granularity, init, step, num_clicks=2)
  start = time.perf_counter()
  ref_ious, ref_clicks = reference_eval(predictor, images[:num_ref], masks[:num_ref], max_clicks,
                                        ev.pred_thr, granularity, init, step)
  seconds = time.perf_counter() - start
  out["reference"] = {"instances": num_ref, "seconds": seconds,
                      "instances_per_s": num_ref / seconds,
                      "clicks_per_s": num_ref * max_clicks / seconds}
  best = max(b["instances_per_s"] for b in out["batched"])
  out["speedup"] = best / out["reference"]["instances_per_s"]
  same = [list(zip(batched_result["y"][i].tolist(), batched_result["x"][i].tolist(),
                   batched_result["positive"][i].tolist())) == ref_clicks[i] for i in range(num_ref)]
  out["reference_click_traces_equal"] = float(np.mean(same))
  out["reference_max_iou_diff"] = float(np.nanmax(np.abs(batched_result["ious"][:num_ref] - ref_ious)))
  print(json.dumps(out, indent=1))


if __name__ == "__main__":
  main()
