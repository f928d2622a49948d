"""graco-jax: granularity-controllable interactive segmentation in JAX."""

__version__ = "0.1.0"
