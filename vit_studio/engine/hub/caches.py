"""Where downloaded models live, laid out exactly as torch.hub and huggingface_hub lay them out.

torchvision checkpoints go to `torch.hub.get_dir()/checkpoints/<file>` ($TORCH_HOME/hub), Hugging
Face repos to the hub cache ($HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub):

    models--ORG--NAME/blobs/<etag>                     the file's content, named by its hash
    models--ORG--NAME/refs/<revision>                  the commit a branch or tag pointed at
    models--ORG--NAME/snapshots/<commit>/<file>        a relative link to its blob

so torchvision, timm, transformers and huggingface_hub find what ViT Studio downloaded, and
ViT Studio finds what they did. Unfinished downloads sit beside their final file under a name
every tool skips: `.<file>.partial` for torch hub, `blobs/<etag>.incomplete` for the hub cache
(huggingface_hub's own name, so each resumes the other's).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vit_studio.engine.fileio import durable_replace, fsync_folder, write_text_atomic
from vit_studio.engine.hub.catalogue import TORCHVISION, CatalogueEntry
from vit_studio.engine.locations import default_hf_hub_cache, default_torch_hub_checkpoints

_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def local_path(entry: CatalogueEntry) -> Path | None:
    """What `load_model` opens for `entry` when it is fully downloaded (the checkpoint file, or
    the hub snapshot folder), else None. Reads the caches only; never asks a server."""
    if entry.source == TORCHVISION:
        path = torchvision_path(entry)
        return path if path.is_file() else None
    commit = read_ref(entry.repo_id, entry.revision)
    if commit is None:
        return None
    snapshot = snapshot_folder(entry.repo_id, commit)
    return snapshot if all((snapshot / name).is_file() for name in entry.files) else None


def is_downloaded(entry: CatalogueEntry) -> bool:
    return local_path(entry) is not None


def torchvision_path(entry: CatalogueEntry) -> Path:
    return default_torch_hub_checkpoints() / entry.files[0]


def torchvision_partial(entry: CatalogueEntry) -> Path:
    # Hidden, so that the cache scan (`vit-studio models`) never tries to open half a file.
    path = torchvision_path(entry)
    return path.with_name(f".{path.name}.partial")


def repo_folder(repo_id: str) -> Path:
    return default_hf_hub_cache() / ("models--" + repo_id.replace("/", "--"))


def blob_path(repo_id: str, etag: str) -> Path:
    return repo_folder(repo_id) / "blobs" / etag


def incomplete_path(repo_id: str, etag: str) -> Path:
    return repo_folder(repo_id) / "blobs" / f"{etag}.incomplete"


def snapshot_folder(repo_id: str, commit: str) -> Path:
    return repo_folder(repo_id) / "snapshots" / commit


def read_ref(repo_id: str, revision: str) -> str | None:
    """The commit `revision` stands for in the cache: itself if it is one, else its ref file."""
    if _COMMIT.match(revision):
        return revision
    ref = repo_folder(repo_id) / "refs" / revision
    try:
        commit = ref.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return commit if _COMMIT.match(commit) else None


def write_ref(repo_id: str, revision: str, commit: str) -> None:
    """Record which commit `revision` pointed at (nothing to record for a commit itself)."""
    if revision == commit:
        return
    ref = repo_folder(repo_id) / "refs" / revision
    # A reader (another tool) never sees half a ref: written aside, then renamed.
    write_text_atomic(ref, commit, "the hub cache's reference")


def link_into_snapshot(repo_id: str, commit: str, filename: str, blob: Path) -> Path:
    """Put `blob` into the snapshot as `filename`: a relative link, as huggingface_hub makes
    them; where links are not allowed (Windows without developer mode) the blob itself moves
    there, which is huggingface_hub's fallback too."""
    target = snapshot_folder(repo_id, commit) / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    try:
        os.symlink(os.path.relpath(blob, target.parent), target)
    except OSError:
        durable_replace(blob, target)
    else:
        fsync_folder(target.parent)
    return target


def cache_location(entry: CatalogueEntry) -> Path:
    """Where `entry` goes, for people: the checkpoint file, or the repo's cache folder."""
    return torchvision_path(entry) if entry.source == TORCHVISION else repo_folder(entry.repo_id)
