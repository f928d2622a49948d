"""GELU as the official models compute it."""

import jax


def exact_gelu(x):
  """x Phi(x) written as torch's nn.GELU writes it, 0.5 x (1 + erf(x / sqrt 2)).

  `jax.nn.gelu(approximate=False)` goes through erfc, which XLA's CPU backend expands into a
  longer polynomial: on a 2-core AMD EPYC it took 0.92 ms per [6272, 256] activation against
  0.35 ms here. Both stay within 1.2e-6 of torch; this form equals torch's output on more
  elements (57% against 46%).
  """
  return 0.5 * x * (1 + jax.lax.erf(x * (2 ** -0.5)))
