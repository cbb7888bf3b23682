"""`vit-studio models`: list the ViT models on this machine (bundled and in the download caches)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from vit_studio.engine import resources
from vit_studio.engine.checkpoints.discovery import (
    LocalModel,
    default_hf_hub_cache,
    default_torch_hub_checkpoints,
    find_local_models,
)
from vit_studio.engine.model import ViTArch

_COLUMNS = ("NAME", "FORMAT", "ARCHITECTURE", "PATH")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list the ViT models found on this machine",
        description="List bundled ViT models and the ViTs in the torch hub and Hugging Face "
        "caches that ViT Studio can open (torchvision, timm, Hugging Face, ViT Studio files).",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    models = find_local_models()
    if args.json:
        print(json.dumps([_as_json(model) for model in models], indent=2))
    elif models:
        print(format_table(models))
    else:
        print(
            "No ViT models found; looked in "
            f"{resources.BUNDLED_MODELS_DIR}, {default_torch_hub_checkpoints()} "
            f"and {default_hf_hub_cache()}"
        )
    return 0


def format_table(models: list[LocalModel]) -> str:
    """One row per model, columns padded to their widest cell."""
    rows = [_COLUMNS] + [
        (model.name, model.format, arch_summary(model.arch), str(model.path)) for model in models
    ]
    # The last column (the path) is not padded, so long paths add no trailing blanks.
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)), row[-1]]
        )
        for row in rows
    )


def arch_summary(arch: ViTArch) -> str:
    """'ViT 12L 12H d768 p16 224px 1000cls': the shape in a table-sized cell."""
    return (
        f"ViT {arch.num_layers}L {arch.num_heads}H d{arch.hidden_dim} p{arch.patch_size} "
        f"{arch.image_size}px {arch.num_classes}cls"
    )


def _as_json(model: LocalModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "format": model.format,
        "source": model.source,
        "path": str(model.path),
        "arch": asdict(model.arch),
    }
