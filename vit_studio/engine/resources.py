"""Where the files shipped with ViT Studio live (bundled models, sample images)."""

from __future__ import annotations

import os
from pathlib import Path

from vit_studio.engine.errors import StudioError

# `resources/` sits beside the package in the source tree; the README installs in editable mode
# so this path is valid for every install the README describes. VIT_STUDIO_RESOURCES overrides it.
RESOURCES_DIR = Path(
    os.environ.get("VIT_STUDIO_RESOURCES", Path(__file__).resolve().parents[2] / "resources")
)
BUNDLED_MODELS_DIR = RESOURCES_DIR / "models"
SAMPLES_DIR = RESOURCES_DIR / "samples"
DEFAULT_MODEL_NAME = "vit_cifar10.safetensors"


def bundled_models() -> list[Path]:
    """The model files shipped in `resources/models`, sorted by name."""
    if not BUNDLED_MODELS_DIR.is_dir():
        return []
    return sorted(BUNDLED_MODELS_DIR.glob("*.safetensors"))


def default_model_path() -> Path | None:
    """The model used when none is named, or None if it is not bundled."""
    path = BUNDLED_MODELS_DIR / DEFAULT_MODEL_NAME
    return path if path.is_file() else None


def model_or_default(path: str | os.PathLike | None) -> Path:
    """`path`, or the bundled model when none is named; raises `StudioError` if neither."""
    if path:
        return Path(path)
    bundled = default_model_path()
    if bundled is None:
        raise StudioError(
            "no bundled model is installed yet; pass --model PATH (a ViT Studio .safetensors, "
            "a torchvision/timm checkpoint or a Hugging Face ViT folder)"
        )
    return bundled
