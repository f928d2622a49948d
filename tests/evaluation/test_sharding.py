"""8 simulated CPU devices give exactly the results of 1 device."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
  import jax, jax.numpy as jnp, numpy as np
  from graco_jax import parallel
  from graco_jax.evaluation.noc import run_click_protocol
  from graco_jax.interaction.encoding import disk_maps

  assert jax.device_count() == 8, jax.devices()

  def predict_fn(images, clicks, prev, gra):
    maps = disk_maps(clicks, images.shape[1], images.shape[2], 6.0)
    probs = images[..., 0] + 0.5 * maps[..., 0] - 0.5 * maps[..., 1] + 0.1 * prev[..., 0] * gra[:, None, None]
    return jnp.clip(probs, 0, 1)[..., None]

  rng = np.random.default_rng(0)
  images, masks = [], []
  for i in range(11):
    h, w = rng.integers(20, 70, 2)
    yy, xx = np.mgrid[:h, :w]
    mask = ((yy - h / 2) ** 2 / (h / 3) ** 2 + (xx - w / 2) ** 2 / (w / 4) ** 2 < 1).astype(np.int8)
    mask[rng.uniform(size=(h, w)) < 0.03] = -1
    wrong = np.zeros((h, w), bool)  # error blobs a click each: stops at different clicks
    for cy, cx in zip(rng.integers(0, h, 6), rng.integers(0, w, 6)):
      wrong |= (yy - cy) ** 2 + (xx - cx) ** 2 <= 16
    prior = np.where((mask == 1) ^ wrong, 0.7, 0.3).astype(np.float32)
    images.append(np.repeat(prior[..., None], 3, -1))
    masks.append(mask)
  gra = rng.uniform(0.1, 1.0, 11)
  for bucket_multiple in (40, None):
    # Size buckets of up to 8 instances; then one bucket of 11 in 16 slots on 8 devices (11 on
    # 1), which moves to 8 slots once 8 or fewer are still clicking.
    kw = dict(max_clicks=8, granularity=gra, bucket_multiple=bucket_multiple, batch_size=16)
    stats_one, stats_eight = {}, {}
    one = run_click_protocol(predict_fn, images, masks, mesh=parallel.make_mesh(1),
                             stats=stats_one, **kw)
    eight = run_click_protocol(predict_fn, images, masks, mesh=parallel.make_mesh(),
                               stats=stats_eight, **kw)
    for key in one:
      np.testing.assert_array_equal(one[key], eight[key], err_msg=key)
    assert len(set(one["num_clicks"].tolist())) > 3
    print("OK", bucket_multiple, one["num_clicks"].tolist(), stats_one, stats_eight)
  assert stats_eight["programs"] == 2  # the drain moved to a pool of 8
  assert stats_eight["network_rows"] < 16 * stats_eight["steps"]
""")


def test_eight_devices_equal_one_device():
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
             JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert proc.stdout.count("OK") == 2, proc.stdout
