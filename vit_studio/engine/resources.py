"""Where the files shipped with ViT Studio live (bundled models, sample images)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from vit_studio.engine.errors import StudioError
from vit_studio.engine.images import image_files_in


def _installed_resources() -> Path:
    """The `vit_studio.resources` package: the top-level resources/ folder, which setup.py maps
    into every install (wheel or editable). A clone run without installing (PYTHONPATH) has no
    such package; its folder sits beside `vit_studio/`."""
    try:
        # pip installs wheels unpacked, so the package is a real folder that Path can walk.
        return Path(str(resources.files("vit_studio.resources")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "resources"


# VIT_STUDIO_RESOURCES points a run at other bundled files (tests, a custom build).
RESOURCES_DIR = Path(os.environ.get("VIT_STUDIO_RESOURCES") or _installed_resources())
BUNDLED_MODELS_DIR = RESOURCES_DIR / "models"
SAMPLES_DIR = RESOURCES_DIR / "samples"
DEFAULT_MODEL_NAME = "vit_cifar10.safetensors"
DEFAULT_SAMPLE_NAME = "cat_chelsea.jpg"  # a class the bundled CIFAR-10 model knows


def sample_images() -> list[Path]:
    """The sample photos shipped in `resources/samples`, sorted by name."""
    return image_files_in(SAMPLES_DIR) if SAMPLES_DIR.is_dir() else []


def default_sample() -> Path | None:
    """The sample photo to start on: the cat, else the first one; None when none is shipped."""
    samples = sample_images()
    preferred = SAMPLES_DIR / DEFAULT_SAMPLE_NAME
    return preferred if preferred in samples else next(iter(samples), None)


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
