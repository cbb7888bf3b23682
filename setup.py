"""The package list, which pyproject.toml cannot state: every `vit_studio*` package plus the
top-level resources/ folder as `vit_studio.resources`, so the bundled model and the sample photos
ship inside the wheel (read with importlib.resources) while the clone keeps the layout the design
names. Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["vit_studio*"]), "vit_studio.resources"],
    package_dir={"vit_studio.resources": "resources"},
)
