"""The jitted train step: GCL freezing, optimizer state, click loop, 8 devices vs 1."""

import os
import subprocess
import sys
import textwrap

import jax
import ml_collections
import numpy as np
import pytest

from graco_jax import parallel
from graco_jax.model import model_config
from graco_jax.training import optim, step as step_lib
from graco_jax.training.defaults import train_fields


def gcl_config():
  config = ml_collections.ConfigDict()
  config.model = model_config("tiny", granularity=True, lora_rank=2, crop_size=64)
  config.model.window_size = 64
  config.model.depth = 2
  train_fields(config)
  config.train.compute_dtype = "float32"
  config.train.max_num_points = 2
  config.optimizer.learning_rate = 1e-2
  config.optimizer.schedule = "constant"
  return config


def make_batch(batch_size=8, capacity=7, seed=0):
  rng = np.random.default_rng(seed)
  mask = np.zeros((batch_size, 64, 64), np.int8)
  coords = np.zeros((batch_size, capacity, 2), np.int32)
  for b in range(batch_size):
    y, x = rng.integers(8, 40, 2)
    mask[b, y:y + 20, x:x + 16] = 1
    coords[b, 0] = (y + 10, x + 8)
  mask[:, :2] = -1
  valid = np.zeros((batch_size, capacity), bool)
  valid[:, 0] = True
  image = rng.integers(0, 255, (batch_size, 64, 64, 3)).astype(np.uint8)
  image[mask == 1] = 250
  return {"image": image, "mask": mask, "coords": coords, "is_positive": valid.copy(),
          "valid": valid, "granularity": rng.uniform(0.1, 1.0, batch_size).astype(np.float32)}


def test_gcl_step_updates_only_trainable_leaves_and_simulates_clicks():
  config = gcl_config()
  state, tx, trainable, _ = step_lib.create_train_state(jax.random.PRNGKey(0), config, 1, 10)
  before = jax.tree.map(np.asarray, optim.flatten(state.params))
  # Optimizer state exists only for the trainable leaves (Adam mu and nu).
  opt_sizes = sum(x.size for x in jax.tree.leaves(state.opt_state) if np.ndim(x) > 0)
  assert opt_sizes == 2 * sum(before[p].size for p in trainable)
  assert all("lora" in p or "gra_embed" in p for p in trainable)
  mesh = parallel.make_mesh(1)
  batch = make_batch()
  update = step_lib.jit_update_fn(step_lib.make_update_fn(config, tx, trainable), state, mesh,
                                  batch)
  state = jax.device_put(state, jax.tree.map(lambda _: parallel.replicated(mesh), state))
  clicks = []
  for i in range(3):
    state, metrics = update(state, batch, jax.random.PRNGKey(i))
    clicks.append(float(metrics["num_next_clicks"]))
    assert np.isfinite(float(metrics["loss"])) and 0 <= float(metrics["iou"]) <= 1
  after = jax.tree.map(np.asarray, optim.flatten(state.params))
  for path, value in before.items():
    if path in trainable:
      if path.endswith("lora_b") or path.endswith("embedding"):
        assert not np.array_equal(value, after[path]), path
    else:
      assert value.tobytes() == after[path].tobytes(), path  # bit-identical
  assert int(state.step) == 3
  assert all(c in (0.0, 1.0, 2.0, 3.0) for c in clicks)


def test_gcl_step_is_one_adam_step_on_the_gradient_of_the_mean_focal_loss():
  """Without extra clicks or dropout, one step equals a hand-composed one: jax.grad of the mean
  normalized focal loss of the model over the trainable leaves, then optax.adam."""
  import optax

  from graco_jax.model import create_model
  from graco_jax.training import losses
  config = gcl_config()
  config.model.head_dropout = 0.0
  config.train.max_num_next_clicks = 0
  state, tx, trainable, _ = step_lib.create_train_state(jax.random.PRNGKey(0), config, 1, 10)
  flat = optim.flatten(state.params)
  batch = make_batch(batch_size=4)
  # Nudge the zero-initialised LoRA B so that LoRA A gets a gradient too.
  flat = {p: (v + 0.01 if p.endswith("lora_b") else v) for p, v in flat.items()}
  state = state.replace(params=optim.unflatten(flat))
  new_state, metrics = jax.jit(step_lib.make_update_fn(config, tx, trainable))(
      state, batch, jax.random.PRNGKey(5))

  model = create_model(config.model)
  image = np.asarray(batch["image"], np.float32) / 255.0
  labels = np.asarray(batch["mask"], np.float32)[..., None]
  clicks = step_lib.batch_clicks(batch)
  prev = np.zeros(image.shape[:3] + (1,), np.float32)

  def loss(trainable_params):
    variables = optim.unflatten({**flat, **trainable_params})
    logits = model.apply(variables, image, clicks, prev, batch["granularity"])
    return losses.normalized_focal_loss(logits, labels).mean()

  params = {p: flat[p] for p in trainable}
  value, grads = jax.value_and_grad(loss)(params)
  adam = optax.adam(config.optimizer.learning_rate, b1=0.9, b2=0.999, eps=1e-8)
  updates, _ = adam.update(grads, adam.init(params), params)
  expected = optax.apply_updates(params, updates)
  assert float(metrics["loss"]) == pytest.approx(float(value), rel=1e-5)
  after = optim.flatten(new_state.params)
  for path in trainable:
    # Adam divides by sqrt(v): where a gradient is near zero, float rounding of the two
    # equivalent programs moves a step by up to ~1e-4 of its size (lr 1e-2): atol 1e-5.
    np.testing.assert_allclose(after[path], expected[path], rtol=1e-5, atol=1e-5, err_msg=path)
    assert not np.allclose(after[path], flat[path]), path  # every trainable leaf moved
  assert float(metrics["num_next_clicks"]) == 0.0


def test_simulated_clicks_are_added_inside_errors_and_the_loop_runs_n_times():
  config = gcl_config()
  from graco_jax.model import create_model, init_params
  model = create_model(config.model)
  variables = init_params(config.model, jax.random.PRNGKey(1))
  batch = make_batch(batch_size=4)
  image = step_lib.as_float_image(batch["image"])
  labels = jax.numpy.asarray(batch["mask"], jax.numpy.int32)
  simulate = jax.jit(lambda k: step_lib.simulate_clicks(
      model.apply, variables, image, labels, step_lib.batch_clicks(batch), batch["granularity"],
      k, max_num_next_clicks=3, prev_mask_drop_prob=0.0))
  counts = set()
  for seed in range(4):
    clicks, prev, n = simulate(jax.random.PRNGKey(seed))
    n = int(n)
    counts.add(n)
    count = np.asarray(clicks.count)
    assert (count <= 1 + n).all() and (count >= 1).all()
    assert (np.asarray(prev) > 0).any() == (n > 0)
    coords = np.asarray(clicks.coords)
    positive = np.asarray(clicks.is_positive)
    for b in range(4):
      for k in range(1, count[b]):
        y, x = coords[b, k]
        assert batch["mask"][b, y, x] == (1 if positive[b, k] else 0)  # never on ignore
  assert len(counts) > 1


def run_steps(num_devices, steps=2):
  """GCL steps on the same batch over a mesh of `num_devices`; returns the parameter leaves and
  the loss of every step."""
  config = gcl_config()
  # Adam's first step is lr * g / (|g| + eps): with the default eps a gradient at rounding level
  # moves a whole step of either sign. This eps keeps the update proportional to such gradients,
  # so the comparison below measures the step and not the sign of rounding noise.
  config.optimizer.eps = 1e-3
  batch = make_batch()
  mesh = parallel.make_mesh(num_devices)
  state, tx, trainable, _ = step_lib.create_train_state(jax.random.PRNGKey(0), config, 1, 10)
  update = step_lib.jit_update_fn(step_lib.make_update_fn(config, tx, trainable), state, mesh,
                                  batch)
  state = jax.device_put(state, jax.tree.map(lambda _: parallel.replicated(mesh), state))
  losses = []
  for i in range(steps):
    state, metrics = update(state, jax.device_put(batch, parallel.data_sharding(mesh)),
                            jax.random.PRNGKey(i))
    losses.append(float(metrics["loss"]))
  return [np.asarray(x) for x in jax.tree.leaves(state.params)], losses


SCRIPT = textwrap.dedent("""
    import sys
    import jax, numpy as np
    sys.path.insert(0, {test_dir!r})
    from test_step import run_steps
    assert len(jax.devices()) == 8
    leaves, losses = run_steps(8)
    np.savez({out!r}, losses=losses, *leaves)
""")


def test_eight_simulated_devices_match_one(tmp_path):
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
             JAX_PLATFORMS="cpu", JAX_COMPILATION_CACHE_DIR=jax.config.jax_compilation_cache_dir,
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
  out_path = str(tmp_path / "eight.npz")
  script = SCRIPT.format(test_dir=os.path.dirname(__file__), out=out_path)
  out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                       timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  one, losses_one = run_steps(1)
  with np.load(out_path) as eight:
    # The same losses (a batch mean summed in another order; the second after the first update).
    np.testing.assert_allclose(eight["losses"], losses_one, rtol=1e-5)
    for i, a in enumerate(one):
      # All-reduce rounding moves an update by lr * dg / (|g| + eps): up to 4e-5 on an AMD
      # EPYC (0.4% of a step at lr 1e-2); 2e-4 is 2% of a step. With the default eps it was
      # a whole step there (a rounding-level gradient of the other sign).
      np.testing.assert_allclose(eight[f"arr_{i}"], a, rtol=1e-5, atol=2e-4)
