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
    maps = disk_maps(clicks, images.shape[1], images.shape[2], 3.0)
    probs = images[..., 0] + 0.5 * maps[..., 0] - 0.5 * maps[..., 1] + 0.1 * prev[..., 0] * gra[:, None, None]
    return jnp.clip(probs, 0, 1)[..., None]

  rng = np.random.default_rng(0)
  images, masks = [], []
  for i in range(11):
    h, w = rng.integers(20, 70, 2)
    yy, xx = np.mgrid[:h, :w]
    mask = ((yy - h / 2) ** 2 / (h / 3) ** 2 + (xx - w / 2) ** 2 / (w / 4) ** 2 < 1).astype(np.int8)
    mask[rng.uniform(size=(h, w)) < 0.03] = -1
    prior = np.where((mask == 1) ^ (rng.uniform(size=(h, w)) < 0.1), 0.7, 0.3).astype(np.float32)
    images.append(np.repeat(prior[..., None], 3, -1))
    masks.append(mask)
  gra = rng.uniform(0.1, 1.0, 11)
  kw = dict(max_clicks=6, granularity=gra, bucket_multiple=40, batch_size=8)
  one = run_click_protocol(predict_fn, images, masks, mesh=parallel.make_mesh(1), **kw)
  eight = run_click_protocol(predict_fn, images, masks, mesh=parallel.make_mesh(), **kw)
  for key in one:
    np.testing.assert_array_equal(one[key], eight[key], err_msg=key)
  assert (one["num_clicks"] > 1).any()
  print("OK", one["num_clicks"].tolist())
""")


def test_eight_devices_equal_one_device():
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
             JAX_PLATFORMS="cpu")
  proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                        timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "OK" in proc.stdout
