"""ViT Studio: look inside Vision Transformers and fine-tune them on your own images."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vit-studio")  # pyproject.toml is the one place the version is written
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "unknown"
