"""What reached the disk: every fsync and rename of a test, in order, by the identity (device,
inode) of what it touched, so a test can say that a file's data was flushed before it took its
name and its folder after."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


class SyncLog:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, tuple[int, int]]] = []
        real_fsync, real_replace = os.fsync, os.replace

        def fsync(fd: int) -> None:
            info = os.fstat(fd)
            self.events.append(("fsync", (info.st_dev, info.st_ino)))
            real_fsync(fd)

        def replace(source, target, *args, **kwargs) -> None:
            real_replace(source, target, *args, **kwargs)
            self.events.append(("rename", _identity(target)))

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        # macOS flushes through fcntl(F_FULLFSYNC) instead: count every flush as an fsync here.
        monkeypatch.setattr("vit_studio.engine.fileio._F_FULLFSYNC", None, raising=False)

    def _index(self, event: tuple[str, tuple[int, int]], after: int = -1) -> int | None:
        for k in range(after + 1, len(self.events)):
            if self.events[k] == event:
                return k
        return None

    def replaced_durably(self, path: Path) -> bool:
        """`path`'s data was flushed, then it took its name, then its folder was flushed."""
        file, folder = _identity(path), _identity(path.parent)
        synced = self._index(("fsync", file))
        renamed = None if synced is None else self._index(("rename", file), synced)
        return renamed is not None and self._index(("fsync", folder), renamed) is not None

    def flushed(self, path: Path) -> bool:
        """`path`'s data was flushed at least once (files appended to, never renamed)."""
        return self._index(("fsync", _identity(path))) is not None

    def flushed_before_renamed(self, path: Path, then: Path) -> bool:
        """`path` was flushed before `then` (which names it) took its name."""
        synced = self._index(("fsync", _identity(path)))
        return synced is not None and self._index(("rename", _identity(then)), synced) is not None


def _identity(path) -> tuple[int, int]:
    info = os.stat(path)
    return info.st_dev, info.st_ino


@pytest.fixture
def sync_log(monkeypatch: pytest.MonkeyPatch) -> SyncLog:
    return SyncLog(monkeypatch)
