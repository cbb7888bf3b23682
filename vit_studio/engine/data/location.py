"""Where ViT Studio keeps what it can rebuild: the user's cache directory.

`VIT_STUDIO_CACHE_DIR` overrides it (tests, a cluster's scratch disk, a disk with more room);
otherwise it is the platform's per-user cache folder (platformdirs: ~/.cache/vit-studio on
Linux, ~/Library/Caches/vit-studio on macOS, %LOCALAPPDATA%\\vit-studio\\Cache on Windows).
Everything in it may be deleted at any time; it is rebuilt when needed.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from vit_studio.engine.errors import StudioError

CACHE_DIR_VARIABLE = "VIT_STUDIO_CACHE_DIR"


def cache_dir(kind: str) -> Path:
    """The folder for one kind of cached data (e.g. "images"), created if needed; a folder that
    cannot be created raises `StudioError` naming it and the fix."""
    override = os.environ.get(CACHE_DIR_VARIABLE)
    base = Path(override).expanduser() if override else Path(
        platformdirs.user_cache_dir("vit-studio", appauthor=False)
    )
    folder = base / kind
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StudioError(
            f"{folder}: cannot create the cache folder ({exc.strerror or exc}); set "
            f"{CACHE_DIR_VARIABLE} to a folder you may write"
        ) from exc
    return folder
