"""`vit-studio models`: list the ViT models on this machine (bundled and in the download caches),
the catalogue of pretrained ones ViT Studio can download (`--catalogue`), and download one
(`--download NAME`)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from vit_studio.cli import summary
from vit_studio.cli.common import fetch
from vit_studio.engine import resources
from vit_studio.engine.hub import CatalogueEntry, available_models, find_entry, local_path
from vit_studio.engine.locations import default_hf_hub_cache, default_torch_hub_checkpoints
from vit_studio.engine.model import ViTArch

if TYPE_CHECKING:
    from vit_studio.engine.checkpoints.discovery import LocalModel

_COLUMNS = ("NAME", "FORMAT", "ARCHITECTURE", "PATH")
_CATALOGUE_COLUMNS = ("NAME", "SIZE", "LICENCE", "HERE", "MODEL")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "models",
        help=summary("models"),
        description="List bundled ViT models and the ViTs in the torch hub and Hugging Face "
        "caches that ViT Studio can open (torchvision, timm, Hugging Face, ViT Studio files); "
        "list the pretrained ViTs it can download (--catalogue) and download one (--download). "
        "Nothing is downloaded unless asked.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    what = parser.add_mutually_exclusive_group()
    what.add_argument(
        "--catalogue",
        action="store_true",
        help="list the pretrained ViTs ViT Studio can download, with size and licence",
    )
    what.add_argument(
        "--download",
        metavar="NAME",
        help="download a model of the catalogue (or hf:ORG/NAME, timm:NAME) into the torch hub "
        "or Hugging Face cache; an interrupted download resumes when run again",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.download:
        return download(args.download, as_json=args.json)
    if args.catalogue:
        entries = available_models()
        if args.json:
            print(json.dumps([_entry_json(entry) for entry in entries], indent=2))
        else:
            print(format_catalogue(entries))
        return 0
    # Reading the checkpoints' headers brings torch; the catalogue and downloads need none.
    from vit_studio.engine.checkpoints.discovery import find_local_models

    models = find_local_models()
    if args.json:
        print(json.dumps([_as_json(model) for model in models], indent=2))
    elif models:
        print(format_table(models))
    else:
        print(
            "No ViT models found; looked in "
            f"{resources.BUNDLED_MODELS_DIR}, {default_torch_hub_checkpoints()} "
            f"and {default_hf_hub_cache()}; `vit-studio models --catalogue` lists models to "
            "download"
        )
    return 0


def download(name: str, *, as_json: bool = False) -> int:
    """`--download NAME`: fetch it (unless it is here) and say where it is and how to open it."""
    entry = find_entry(name)
    already = local_path(entry)
    path = fetch(entry)
    if as_json:
        print(json.dumps(_entry_json(entry), indent=2))
    else:
        done = "already downloaded" if already else "downloaded and verified"
        print(f"{entry.name}: {done}: {path}")
        print(f"open it with: vit-studio --model {entry.reference}")
    return 0


def format_catalogue(entries: list[CatalogueEntry]) -> str:
    """One row per downloadable model; HERE says which are downloaded already."""
    rows = [_CATALOGUE_COLUMNS] + [
        (entry.name, _size(entry.size_bytes), entry.licence,
         "yes" if local_path(entry) else "", entry.title)
        for entry in entries
    ]  # fmt: skip
    return _table(rows)


def format_table(models: list[LocalModel]) -> str:
    """One row per model, columns padded to their widest cell."""
    rows = [_COLUMNS] + [
        (model.name, model.format, arch_summary(model.arch), str(model.path)) for model in models
    ]
    return _table(rows)


def _table(rows: list[tuple[str, ...]]) -> str:
    # The last column (the path) is not padded, so long paths add no trailing blanks.
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
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


def _size(size_bytes: int) -> str:
    """'330 MiB', '1.1 GiB': sizes are approximate, so no more digits than that."""
    if size_bytes >= 1 << 30:
        return f"{size_bytes / 2**30:.1f} GiB"
    return f"{size_bytes / 2**20:.0f} MiB" if size_bytes else "?"


def _entry_json(entry: CatalogueEntry) -> dict[str, Any]:
    path = local_path(entry)
    return {
        **asdict(entry),
        "reference": entry.reference,
        "path": str(path) if path else None,
    }
