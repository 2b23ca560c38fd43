"""Packaging that pyproject.toml cannot declare: the Hydra configs are edited in the top-level ``conf/`` and ship
inside the wheel as ``gan_lightning/conf`` (found there by ``gan_lightning.CONFIG_DIR`` once installed).

Each config group is its own (namespace) package so that every folder under ``conf/``, also one added later, ships
without a list to keep up to date; tests/test_packaging.py checks the wheel holds every yaml file.
"""

from setuptools import find_namespace_packages, find_packages, setup

CONF_PACKAGES = ["gan_lightning.conf"] + [f"gan_lightning.conf.{name}" for name in find_namespace_packages("conf")]

setup(
    packages=find_packages(include=["gan_lightning", "gan_lightning.*"]) + CONF_PACKAGES,
    package_dir={"gan_lightning.conf": "conf"},
    package_data={name: ["*.yaml"] for name in CONF_PACKAGES},
)
