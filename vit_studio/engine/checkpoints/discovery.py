"""ViT checkpoints already on this machine: bundled models, the torch hub and Hugging Face caches.

Everything is inspected from headers and shapes only, so a scan of caches holding gigabytes of
other models stays quick; files that are not ViTs ViT Studio can read are skipped silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vit_studio.engine import resources
from vit_studio.engine.checkpoints import CheckpointInfo, inspect_checkpoint
from vit_studio.engine.checkpoints.reading import MODEL_SUFFIXES, TORCH_PICKLE, sniff
from vit_studio.engine.errors import StudioError
from vit_studio.engine.locations import default_hf_hub_cache, default_torch_hub_checkpoints

BUNDLED = "bundled"
TORCH_HUB = "torch hub cache"
HF_HUB = "Hugging Face cache"


@dataclass(frozen=True)
class LocalModel(CheckpointInfo):
    """A checkpoint found on this machine, and where it was found."""

    source: str


def find_local_models(
    *,
    bundled: Iterable[Path] | None = None,
    torch_hub_checkpoints: Path | None = None,
    hf_hub_cache: Path | None = None,
) -> list[LocalModel]:
    """Bundled models first, then the torch hub cache, then the Hugging Face cache.

    Each location defaults to the standard one; tests and callers may point them elsewhere.
    """
    bundled = resources.bundled_models() if bundled is None else bundled
    torch_hub_checkpoints = torch_hub_checkpoints or default_torch_hub_checkpoints()
    hf_hub_cache = hf_hub_cache or default_hf_hub_cache()
    found = [_found(path, BUNDLED) for path in bundled]
    found += [_found(path, TORCH_HUB) for path in _files(torch_hub_checkpoints)]
    found += [_found(path, HF_HUB, name) for path, name in _hf_candidates(hf_hub_cache)]
    return [model for model in found if model is not None]


def _found(path: Path, source: str, name: str | None = None) -> LocalModel | None:
    # Whole legacy-format pickles would have to be read in full just to see their shapes; the
    # caches hold such files only for old non-ViT torchvision models.
    try:
        if path.is_file() and sniff(path) == TORCH_PICKLE:
            return None
        info = inspect_checkpoint(path)
    except StudioError:
        return None
    return LocalModel(info.path, info.format, name or info.name, info.arch, source)


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def _hf_candidates(cache: Path) -> Iterator[tuple[Path, str]]:
    """(path, "org/name") for each cached model repo's current snapshot.

    A snapshot with a config.json is a model folder; otherwise its weight files stand alone.
    """
    if not cache.is_dir():
        return
    for repo in sorted(cache.glob("models--*")):
        name = "/".join(repo.name.split("--")[1:])
        for snapshot in _snapshots(repo):
            if (snapshot / "config.json").is_file():
                yield snapshot, name
            else:
                for path in _files(snapshot):
                    if path.name.endswith(MODEL_SUFFIXES):
                        yield path, name


def _snapshots(repo: Path) -> list[Path]:
    """The revision `refs/main` points at, or every snapshot when that is unknown."""
    main = repo / "refs" / "main"
    if main.is_file():
        snapshot = repo / "snapshots" / main.read_text(encoding="utf-8").strip()
        if snapshot.is_dir():
            return [snapshot]
    snapshots = repo / "snapshots"
    return sorted(p for p in snapshots.iterdir() if p.is_dir()) if snapshots.is_dir() else []
