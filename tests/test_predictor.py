"""The predictor's network calls: flip averaging, and large crops in chunks on the CPU."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from graco_jax import predictor as predictor_lib
from graco_jax.interaction import zoom
from graco_jax.interaction.clicks import add_click, empty_clicks


def _network_recording(batches):
  """A per-crop function of every input (image, clicks, previous mask, granularity) that records
  the batch each call sees."""
  def network(variables, images, clicks, prev_probs, granularity):
    del variables
    batches.append(images.shape[0])
    columns = jnp.arange(images.shape[2], dtype=jnp.float32)[None, None, :, None]
    click_term = (clicks.coords[:, :, 0] + 0.5 * clicks.coords[:, :, 1]) * clicks.valid
    per_crop = 0.01 * jnp.sum(click_term, axis=1) + granularity
    return (images[..., :1] - images[..., 2:] + 0.3 * prev_probs + 0.001 * columns
            + per_crop[:, None, None, None])
  return network


def _inputs(batch, size, seed=0):
  rng = np.random.default_rng(seed)
  images = jnp.asarray(rng.uniform(size=(batch, size, size, 3)), jnp.float32)
  prev = jnp.asarray(rng.uniform(size=(batch, size, size, 1)), jnp.float32)
  clicks = empty_clicks(batch, 3)
  for _ in range(2):
    clicks = add_click(clicks, jnp.asarray(rng.integers(0, size, batch)),
                       jnp.asarray(rng.integers(0, size, batch)), jnp.ones(batch, bool))
  granularity = jnp.asarray(rng.uniform(size=batch), jnp.float32)
  return images, clicks, prev, granularity


def _reference(images, clicks, prev, granularity):
  """Flip averaging one crop at a time."""
  network = _network_recording([])
  flipped = zoom.flip_clicks(clicks, images.shape[2])
  out = []
  for i in range(images.shape[0]):
    one = lambda x: x[i:i + 1]
    plain = network((), one(images), jax.tree.map(one, clicks), one(prev), one(granularity))
    mirrored = network((), one(images)[:, :, ::-1], jax.tree.map(one, flipped),
                       one(prev)[:, :, ::-1], one(granularity))
    out.append(jax.nn.sigmoid(0.5 * (plain + mirrored[:, :, ::-1])))
  return np.concatenate([np.asarray(o) for o in out])


@pytest.mark.parametrize("batch,size,calls", [
    (8, 272, [predictor_lib.CPU_CHUNK]),  # 16 crops over 256 x 256: two chunks of 8
    (5, 272, [10]),                       # 10 crops do not split into chunks of 8
    (8, 16, [16]),                        # small crops: one call
])
def test_flip_averaged_probs_are_per_crop_whatever_the_chunking(batch, size, calls):
  assert jax.default_backend() == "cpu"
  batches = []
  predictor = predictor_lib.Predictor(network=_network_recording(batches), with_flip=True)
  images, clicks, prev, granularity = _inputs(batch, size)
  probs, _ = predictor.apply((), images, clicks, prev, granularity, ())
  assert batches == calls
  assert probs.shape == (batch, size, size, 1)
  np.testing.assert_allclose(np.asarray(probs), _reference(images, clicks, prev, granularity),
                             rtol=0, atol=1e-6)
