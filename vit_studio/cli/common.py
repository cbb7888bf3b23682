"""Pieces several commands share: which model to open, on which device, and the flags for them
(the explorer's `vit-studio [IMAGE]` takes the same two flags)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vit_studio.engine.device import DEFAULT_DEVICE, DEVICE_CHOICES, DEVICE_HELP, resolve_device
from vit_studio.engine.hub import CatalogueEntry, local_path, parse_reference
from vit_studio.engine.hub.caches import cache_location
from vit_studio.engine.resources import model_or_default

if TYPE_CHECKING:
    from vit_studio.engine.model import StudioModel

MODEL_HELP = (
    "a ViT Studio .safetensors, a torchvision or timm checkpoint, a Hugging Face ViT folder, or "
    "a hub model to download: hf:ORG/NAME, timm:NAME, torchvision:NAME"
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
    described = default or DEFAULT_DEVICE
    parser.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        default=default,
        help=f"{DEVICE_HELP} (default: {described})",
    )


def open_model(
    argument: str | None, device: str = "cpu", num_heads: int | None = None
) -> StudioModel:
    """Load the named (or bundled) model onto the chosen device."""
    from vit_studio.engine.checkpoints import load_model  # with torch: not for --help

    target = resolve_device(device)
    return load_model(model_or_default(argument), num_heads=num_heads).to(target)


def fetched_model(argument: str | None) -> str | None:
    """--model as a local path: a hub model (`hf:ORG/NAME`, `timm:NAME`, `torchvision:NAME`) is
    downloaded into its standard cache first, unless it is there already; any other value is
    returned as it is."""
    entry = parse_reference(argument) if argument else None
    return argument if entry is None else str(fetch(entry))


def fetch(entry: CatalogueEntry) -> Path:
    """Download `entry` with a progress bar on standard error (standard output stays the
    command's own); what is already downloaded is returned without asking any server."""
    existing = local_path(entry)
    if existing is not None:
        return existing
    from vit_studio.cli.console import Console
    from vit_studio.engine.hub import download

    console = Console()
    started = False

    def progress(done: int, total: int) -> None:
        nonlocal started
        if not started:
            # Said once the server has answered: a failure before that is its one line alone.
            started = True
            size = f", {total / 2**20:,.1f} MiB" if total else ""
            console.line(
                f"downloading {entry.name} ({entry.licence}{size}) into {cache_location(entry)}",
                stream=sys.stderr,
            )
        console.transfer(entry.name, done, total)

    try:
        return download(entry, progress=progress)
    except KeyboardInterrupt:
        raise KeyboardInterrupt(
            f"the part of {entry.name} downloaded so far is kept; run the same command again to "
            "resume"
        ) from None
    finally:
        console.close()
