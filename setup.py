"""graco-jax: granularity-controllable interactive segmentation (GraCo) in JAX/Flax."""

import re

import setuptools

# The version lives in graco_jax/__init__.py (read, not imported: that would need jax).
with open("graco_jax/__init__.py", encoding="utf-8") as f:
  VERSION = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)

setuptools.setup(
    name="graco-jax",
    version=VERSION,
    description="JAX/Flax reimplementation of GraCo (CVPR'24): granularity-controllable "
    "interactive segmentation, AGG proposal generation, GCL training and NoC evaluation.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=setuptools.find_packages(include=["graco_jax", "graco_jax.*"]),
    package_data={"graco_jax.demo": ["page.html"]},
    python_requires=">=3.10",
    install_requires=[
        "jax>=0.4.35",
        "flax>=0.10",
        "optax>=0.2.3",
        "orbax-checkpoint>=0.9",
        "grain>=0.2.2",
        "ml-collections>=1.0",  # config_flags with sys_argv (config_utils)
        "absl-py>=1.0",
        "numpy>=1.26",
        "scipy>=1.11",
        "scikit-image>=0.22",
        "pycocotools>=2.0.7",
        "pillow>=10.0",
        "matplotlib>=3.8",
        "tqdm>=4.66",
        "tensorboardX>=2.6",
        "flatbuffers>=24.3",  # jax.export serialization (graco-jax export)
    ],
    extras_require={
        "cpu": ["jax[cpu]>=0.4.35"],
        "test": [
            "pytest>=8.0",
            "pytest-xdist>=3.5",
            "nbclient>=0.10",
            "nbformat>=5.9",
            "ipykernel>=6.29",
            "tensorboard>=2.15",  # its event reader checks what tensorboardX wrote
            "tensorflow-datasets>=4.9",  # builds the tests' tiny TFDS datasets, no TensorFlow
            "importlib_resources",  # TFDS builders defined in a test module need it
            "playwright>=1.40",  # drives the system chromium (no browser download)
        ],
        "tfds": ["tensorflow-datasets>=4.9"],
    },
    entry_points={"console_scripts": ["graco-jax=graco_jax.cli:console_main"]},
)
