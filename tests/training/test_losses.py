import jax
import jax.numpy as jnp
import numpy as np

from graco_jax.training import losses


def numpy_nfl(logits, labels, alpha=0.5, gamma=2.0, eps=1e-12):
  """Independent float64 transcription of the official NormalizedFocalLossSigmoid."""
  out = []
  for z, y in zip(logits[..., 0].astype(np.float64), labels[..., 0].astype(np.float64)):
    p = 1 / (1 + np.exp(-z))
    valid = y != -1
    a = np.where(y > 0.5, alpha, 1 - alpha) * valid
    pt = np.where(valid, 1 - np.abs(y - p), 1.0)
    beta = (1 - pt) ** gamma
    beta = beta * valid.sum() / (beta.sum() + eps)
    loss = -a * beta * np.log(np.minimum(pt + eps, 1.0)) * valid
    out.append(loss.sum() / (valid.sum() + eps))
  return np.array(out)


def numpy_bce(logits, labels):
  z, y = logits.astype(np.float64), labels.astype(np.float64)
  valid = y != -1
  y = np.where(valid, y, 0)
  loss = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
  return (loss * valid).mean(axis=(1, 2, 3))


def _inputs(seed=0):
  rng = np.random.default_rng(seed)
  logits = rng.normal(0, 3, (3, 9, 7, 1)).astype(np.float32)
  labels = rng.integers(-1, 2, (3, 9, 7, 1)).astype(np.float32)
  labels[2] = 0  # an instance without object pixels
  return logits, labels


def test_normalized_focal_loss_matches_numpy_reference():
  logits, labels = _inputs()
  got = losses.normalized_focal_loss(jnp.asarray(logits), jnp.asarray(labels))
  np.testing.assert_allclose(np.asarray(got), numpy_nfl(logits, labels), rtol=2e-5)


def test_normalized_focal_loss_ignores_ignored_pixels_and_detaches_the_normaliser():
  logits, labels = _inputs(1)
  changed = logits.copy()
  changed[labels == -1] += 5.0
  a = losses.normalized_focal_loss(jnp.asarray(logits), jnp.asarray(labels))
  b = losses.normalized_focal_loss(jnp.asarray(changed), jnp.asarray(labels))
  np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
  # Gradient with the normaliser held constant: d/dz of sum(c * f(z)) with c fixed.
  x, y = jnp.asarray(logits[:1]), jnp.asarray(labels[:1])
  grad = jax.grad(lambda z: losses.normalized_focal_loss(z, y)[0])(x)
  z = np.asarray(x, np.float64)[0, ..., 0]
  t = np.asarray(y, np.float64)[0, ..., 0]
  valid = t != -1
  p = 1 / (1 + np.exp(-z))
  pt = np.where(valid, 1 - np.abs(t - p), 1.0)
  beta = (1 - pt) ** 2
  mult = valid.sum() / (beta.sum() + 1e-12)
  h = 1e-4
  def fixed(zz):
    pp = 1 / (1 + np.exp(-zz))
    ptt = np.where(valid, 1 - np.abs(t - pp), 1.0)
    l = -0.5 * (1 - ptt) ** 2 * mult * np.log(np.minimum(ptt + 1e-12, 1.0)) * valid
    return l.sum() / (valid.sum() + 1e-12)
  i, j = np.argwhere(valid)[0]
  zp, zm = z.copy(), z.copy()
  zp[i, j] += h
  zm[i, j] -= h
  np.testing.assert_allclose(float(grad[0, i, j, 0]), (fixed(zp) - fixed(zm)) / (2 * h),
                             rtol=1e-3, atol=1e-7)


def test_bce_matches_numpy_reference():
  logits, labels = _inputs(2)
  got = losses.sigmoid_binary_cross_entropy(jnp.asarray(logits), jnp.asarray(labels))
  np.testing.assert_allclose(np.asarray(got), numpy_bce(logits, labels), rtol=1e-5)
