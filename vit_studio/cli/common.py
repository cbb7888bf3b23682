"""Pieces several subcommands share: which model to open, and on which device."""

from __future__ import annotations

import argparse
from pathlib import Path

from vit_studio.engine.checkpoints import load_model
from vit_studio.engine.device import DEVICE_CHOICES, resolve_device
from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import StudioModel
from vit_studio.engine.resources import default_model_path


def add_model_argument(parser: argparse.ArgumentParser, help_suffix: str = "") -> None:
    parser.add_argument(
        "--model",
        metavar="PATH",
        help="a ViT Studio .safetensors, a torchvision or timm checkpoint, or a Hugging Face "
        "ViT folder (default: the bundled model)" + help_suffix,
    )


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default="auto",
        help="where to run: auto picks CUDA, then Apple MPS, then the CPU (default: auto)",
    )


def model_path(argument: str | None) -> Path:
    """The model the user named, or the bundled default."""
    if argument:
        return Path(argument)
    bundled = default_model_path()
    if bundled is None:
        raise StudioError(
            "no bundled model is installed yet; pass --model PATH (a ViT Studio .safetensors, "
            "a torchvision/timm checkpoint or a Hugging Face ViT folder)"
        )
    return bundled


def open_model(argument: str | None, device: str = "cpu") -> StudioModel:
    """Load the named (or bundled) model onto the chosen device."""
    target = resolve_device(device)
    return load_model(model_path(argument)).to(target)
