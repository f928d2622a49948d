"""graco-jax: granularity-controllable interactive segmentation (GraCo) in JAX/Flax."""

import setuptools

setuptools.setup(
    name="graco-jax",
    version="0.1.0",
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
        "ml-collections>=0.1.1",
        "numpy>=1.26",
        "scipy>=1.11",
        "scikit-image>=0.22",
        "pycocotools>=2.0.7",
        "pillow>=10.0",
        "matplotlib>=3.8",
        "tqdm>=4.66",
    ],
    extras_require={
        "cpu": ["jax[cpu]>=0.4.35"],
        "test": [
            "pytest>=8.0",
            "pytest-xdist>=3.5",
            "nbclient>=0.10",
            "nbformat>=5.9",
            "ipykernel>=6.29",
            "playwright>=1.40",  # drives the system chromium (no browser download)
        ],
        "tfds": ["tensorflow-datasets>=4.9"],
    },
    entry_points={"console_scripts": ["graco-jax=graco_jax.cli:main"]},
)
