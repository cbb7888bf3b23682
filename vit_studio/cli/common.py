"""Pieces several commands share: which model to open, on which device, and the flags for them
(the explorer's `vit-studio [IMAGE]` takes the same two flags)."""

from __future__ import annotations

import argparse

from vit_studio.engine.checkpoints import load_model
from vit_studio.engine.device import DEVICE_CHOICES, resolve_device
from vit_studio.engine.model import StudioModel
from vit_studio.engine.resources import model_or_default
from vit_studio.engine.training.settings import TRAIN, setting

MODEL_HELP = (
    "a ViT Studio .safetensors, a torchvision or timm checkpoint, or a Hugging Face ViT folder"
)


def add_model_argument(parser: argparse.ArgumentParser, default: str = "the bundled model") -> None:
    """--model, and --num-heads for the files that do not record their head count."""
    parser.add_argument("--model", metavar="PATH", help=f"{MODEL_HELP} (default: {default})")
    parser.add_argument(
        "--num-heads",
        type=int,
        metavar="N",
        help="attention heads per layer of --model, for a torchvision or timm state dict that "
        "does not record them (default: what the file or its config.json records, else the "
        "count of the published ViT of its width; any other width must be given)",
    )


def add_device_argument(parser: argparse.ArgumentParser, default: str | None = "auto") -> None:
    """--device; `default` None leaves the choice to what is being continued (or the settings)."""
    described = default or setting(TRAIN, "device").default_for(TRAIN)
    parser.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default=default,
        help=f"{setting(TRAIN, 'device').help} (default: {described})",
    )


def open_model(
    argument: str | None, device: str = "cpu", num_heads: int | None = None
) -> StudioModel:
    """Load the named (or bundled) model onto the chosen device."""
    target = resolve_device(device)
    return load_model(model_or_default(argument), num_heads=num_heads).to(target)
