"""Atomic file writes: a crash, Ctrl-C or full disk never leaves a half-written file behind.

Every file ViT Studio writes (models, checkpoints, metrics, exports) goes through `atomic_path`,
so its failures are described once: a full disk, a folder the user may not write to or a
vanished folder become a `StudioError` that names the file and the fix.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from vit_studio.engine.errors import user_error

# mkstemp creates its file readable by its owner only; a saved model or export should get the
# permissions any new file of the user gets. Read once, at import, where no other thread runs.
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, what: str = "") -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds.

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
        os.replace(tmp, target)
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
    """Append one line in one write: an interrupt lands before or after it, never inside."""
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError as exc:
        known = user_error(exc, f"writing {what or Path(path).name}", path=path, writing=True)
        if known is None:
            raise
        raise known from exc
