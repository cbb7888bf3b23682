"""Where models are kept and what their files are called, known without importing torch.

`vit-studio models --catalogue`, the file dialogs and drops on the window ask these long before
(or without) any model is run, and importing torch for a path or a file name costs seconds.
"""

from __future__ import annotations

import os
from pathlib import Path

# File names a model may have: the format is read from the content, these only help to find
# models among other files (file dialogs, drops, the hub caches).
MODEL_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")


def is_model_path(path: Path) -> bool:
    """A checkpoint file by its name, or a Hugging Face / timm model folder (with config.json)."""
    if path.is_dir():
        return (path / "config.json").is_file()
    return path.suffix.lower() in MODEL_SUFFIXES


def default_torch_hub_checkpoints() -> Path:
    """Where `torch.hub` and torchvision keep downloaded weights: `torch.hub.get_dir()`'s rule
    ($TORCH_HOME, else $XDG_CACHE_HOME/torch, else ~/.cache/torch; then hub/checkpoints)."""
    cache = os.environ.get("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    home = os.environ.get("TORCH_HOME", os.path.join(cache, "torch"))
    return Path(os.path.expanduser(home)) / "hub" / "checkpoints"


def default_hf_hub_cache() -> Path:
    """The Hugging Face hub cache, resolved from the same variables huggingface_hub reads."""
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(variable):
            return Path(os.environ[variable]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()
    return cache / "huggingface" / "hub"
