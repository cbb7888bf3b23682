"""What the last scans of a folder found when they decoded each file, so a rescan of an
unchanged folder decodes only what is new or changed.

A file is "the same" when its path, size and modification time (in nanoseconds) are; that is
what make and rsync trust too. The record is a JSON file per folder in the user's cache
directory (`location.cache_dir`); losing it only costs the next scan its decoding time, so a
record that cannot be read or written is ignored rather than reported.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from vit_studio.engine.data.location import cache_dir
from vit_studio.engine.errors import StudioError
from vit_studio.engine.fileio import write_text_atomic

_VERSION = 1

# path -> (size, mtime_ns)
FileStamp = tuple[int, int]


def file_stamp(path: Path) -> FileStamp | None:
    """(size, modification time in ns) of `path`, or None when it cannot be read."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def folder_key(root: Path) -> str:
    """A file-name-safe key for a folder: a hash of its resolved path."""
    return hashlib.blake2b(str(root.resolve()).encode(), digest_size=12).hexdigest()


class CheckRecord:
    """The decoding outcome ("" for a good image, else why it is unusable) of each file of one
    folder, at the stamp it had then."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._path: Path | None = None
        self._entries: dict[str, tuple[int, int, str]] = {}
        try:
            self._path = cache_dir("checked") / f"{folder_key(root)}.json"
            document = json.loads(self._path.read_text(encoding="utf-8"))
            if document.get("version") == _VERSION:
                self._entries = {
                    name: (int(size), int(mtime), str(reason))
                    for name, (size, mtime, reason) in document["files"].items()
                }
        except (OSError, StudioError, ValueError, KeyError, TypeError):
            pass  # no record yet, or an unreadable one: every file is decoded again

    def outcome(self, path: Path, stamp: FileStamp | None) -> str | None:
        """The recorded outcome for `path` if it still has `stamp`, else None (decode it)."""
        entry = self._entries.get(os.path.abspath(path))
        if stamp is None or entry is None or entry[:2] != stamp:
            return None
        return entry[2]

    def save(self, outcomes: Iterable[tuple[Path, FileStamp | None, str]]) -> None:
        """Replace the record with these (path, stamp, outcome); files without a stamp are left
        out (they are decoded next time)."""
        if self._path is None:
            return
        files = {
            os.path.abspath(p): [*stamp, reason] for p, stamp, reason in outcomes if stamp
        }
        document = {"version": _VERSION, "root": str(self.root), "files": files}
        with contextlib.suppress(OSError, StudioError):
            write_text_atomic(self._path, json.dumps(document), "the folder check record")
