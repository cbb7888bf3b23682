"""Atomic, durable file writes: a crash, Ctrl-C, full disk or power cut never leaves a
half-written file behind, nor an empty one where a saved file was.

Every file ViT Studio writes (models, checkpoints, metrics, exports, caches) goes through
`atomic_path` or `durable_replace`, so its failures are described once: a full disk, a folder the
user may not write to or a vanished folder become a `StudioError` that names the file and the fix.

A rename alone is atomic but not durable: after a power cut, ext4, XFS and APFS may show the new
name pointing at a file whose data never reached the disk (an empty "saved" model). So the data
is flushed to the disk before the rename, and the folder after it, so the new name survives too.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vit_studio.engine.errors import user_error

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

_F_FULLFSYNC: int | None = getattr(fcntl, "F_FULLFSYNC", None)

# mkstemp creates its file readable by its owner only; a saved model or export should get the
# permissions any new file of the user gets. Read once, at import, where no other thread runs.
_UMASK = os.umask(0)
os.umask(_UMASK)


def fsync_file(path: str | os.PathLike) -> None:
    """Flush `path`'s data (written through any handle, by any library) to the disk."""
    # Windows only flushes through a handle open for writing.
    fd = os.open(path, os.O_RDWR if os.name == "nt" else os.O_RDONLY)
    try:
        _full_sync(fd)
    finally:
        os.close(fd)


def fsync_folder(folder: str | os.PathLike) -> None:
    """Make the names created, renamed or removed in `folder` durable (POSIX; Windows commits
    them with the rename itself and cannot open a folder for this)."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_replace(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """`os.replace(source, target)` that survives a power cut: `source`'s data is on the disk
    before it takes the name, and the folder's new entry after."""
    fsync_file(source)
    os.replace(source, target)
    fsync_folder(Path(target).parent)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, what: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it durably over `path` only if the block
    succeeds.

    The temporary file lives in the same folder so the final `os.replace` is atomic on every
    platform; on any exception (including KeyboardInterrupt) it is removed and `path` is
    untouched. `what` names the file for people ("the model"); failures the user can fix are
    raised as `StudioError`.
    """
    target = Path(path)
    doing = f"writing {what or target.name}"
    tmp: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".tmp", dir=target.parent
        )
        os.close(fd)
        tmp = Path(tmp_name)
        yield tmp
        # After the write: some writers (safetensors) replace the file they were given.
        os.chmod(tmp, 0o666 & ~_UMASK)
        durable_replace(tmp, target)
    except BaseException as exc:
        # Classified while the temp file still holds the space it took: a full disk shows.
        known = user_error(exc, doing, path=target, writing=True)
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        if known is not None and known is not exc:
            raise known from exc
        raise


def write_text_atomic(path: str | os.PathLike, text: str, what: str = "") -> None:
    with atomic_path(path, what) as tmp:
        tmp.write_text(text, encoding="utf-8")


def append_line(path: str | os.PathLike, line: str, what: str = "") -> None:
    """Append one line in one write, on the disk before this returns: an interrupt lands before
    or after it, never inside."""
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            _full_sync(handle.fileno())
    except OSError as exc:
        known = user_error(exc, f"writing {what or Path(path).name}", path=path, writing=True)
        if known is None:
            raise
        raise known from exc


def _full_sync(fd: int) -> None:
    """fsync; on macOS, whose fsync stops at the drive's own cache, F_FULLFSYNC where the file
    system supports it."""
    if _F_FULLFSYNC is not None:
        try:
            fcntl.fcntl(fd, _F_FULLFSYNC)
            return
        except OSError:
            pass  # not supported here (network shares): a plain fsync is the best there is
    os.fsync(fd)
