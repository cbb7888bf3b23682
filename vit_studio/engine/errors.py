"""The errors a user can cause, described once for the CLI and the GUI alike.

`StudioError` is the one exception type for problems a user can cause and fix: its message is
one line that names the file (or option) and says how to fix it. `Cancelled` is the one
exception for work stopped because its caller asked (a cancel callback said so).

Some failures are not ours but the machine's, and a user can fix them too: a full disk, a folder
they may not write to, too little memory, a file that vanished. `user_error` turns those into a
`StudioError` with the fix; `describe_failure` gives one line for anything that went wrong, so
the CLI and the GUI say the same thing about the same failure.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

# What to do about too little memory (of the computer, of the GPU); callers doing work with
# other fixes (training: a smaller batch) pass their own.
MEMORY_FIX = "close other programs, or open a smaller model or image"
GPU_MEMORY_FIX = "choose CPU as the device, or close other programs that use the GPU"
# A failed write with less free space than this on its disk is taken to have filled it.
_NEARLY_FULL_BYTES = 1 << 20
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
_NOT_ALLOWED_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
# torch's zip writer reports a write the disk cut short (full, a quota, a file-size limit) so.
_SHORT_WRITE = "unexpected pos"


class StudioError(Exception):
    """A bad file, folder, checkpoint or option, or a machine problem the user can fix.

    The message is one line that names the offending file (or option) and says how to fix it;
    the CLI prints it as is and exits 2, the GUI shows it without a traceback.
    """


class Cancelled(Exception):
    """Work stopped early because its caller asked: a cancel callback returned True."""


def user_error(
    exc: BaseException,
    doing: str,
    *,
    path: str | os.PathLike | None = None,
    writing: bool = False,
    memory_fix: str | None = None,
) -> StudioError | None:
    """A `StudioError` for a failure the user can fix, or None for anything else (a bug).

    `doing` says what was going on ("saving the model"); `path` is the file being written
    (`writing`) or read when the exception does not name it (safetensors and torch errors do
    not); `memory_fix` says what to do about too little memory for this work (default: close
    other programs, or for the GPU choose the CPU).
    """
    if isinstance(exc, StudioError):
        return exc
    where = _named_file(exc, path)
    prefix = f"{where}: " if where else ""
    if _is_out_of_memory(exc):
        gpu = _is_gpu_out_of_memory(exc)
        if gpu:
            _release_gpu_memory()
        memory, usual = ("GPU memory", GPU_MEMORY_FIX) if gpu else ("memory", MEMORY_FIX)
        return StudioError(f"out of {memory} while {doing}; {memory_fix or usual}")
    if _is_disk_full(exc, where if writing else None):
        return StudioError(
            f"{prefix}the disk is full while {doing}; free some space, or write to another disk"
        )
    code = _errno(exc)
    if code == errno.EFBIG or (writing and code is None and _SHORT_WRITE in str(exc)):
        # A FAT32 drive's 4 GB per file, a quota, `ulimit -f`: the disk is not full.
        return StudioError(
            f"{prefix}the file grew larger than this disk or account allows while {doing}; "
            "write to another disk, or raise the limit (FAT32 drives hold 4 GB per file)"
        )
    if code in _NOT_ALLOWED_ERRNOS:
        reason = "the disk is read-only" if code == errno.EROFS else "permission denied"
        return StudioError(
            f"{prefix}{reason} while {doing}; choose a folder you can write to, or change its "
            "permissions"
        )
    if code == errno.ENOENT or isinstance(exc, FileNotFoundError):
        return StudioError(
            f"{prefix}not found while {doing} (moved or deleted?); put it back or choose it again"
        )
    if isinstance(exc, OSError):
        return StudioError(
            f"{prefix}could not finish {doing} ({exc.strerror or exc}); check the file and its "
            "folder"
        )
    return None


def describe_failure(exc: BaseException, doing: str, *, memory_fix: str | None = None) -> str:
    """One line for the user: `user_error`'s message, or for a bug its type and first line
    (the traceback is logged in full, for the bug report)."""
    known = user_error(exc, doing, memory_fix=memory_fix)
    if known is not None:
        return str(known)
    log.error("unexpected error while %s", doing, exc_info=exc)
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"unexpected error while {doing}: {type(exc).__name__}: {first_line}"


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and the exceptions it was raised from or during (torch wraps I/O errors)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _errno(exc: BaseException) -> int | None:
    for error in _chain(exc):
        if isinstance(error, OSError) and error.errno is not None:
            return error.errno
        # safetensors and other Rust writers put the OS error in their message only.
        for code in (*_DISK_FULL_ERRNOS, *_NOT_ALLOWED_ERRNOS, errno.EFBIG, errno.ENOENT):
            if f"(os error {code})" in str(error):
                return code
    return None


def _named_file(exc: BaseException, path: str | os.PathLike | None) -> str | None:
    if path is not None:
        return str(path)
    for error in _chain(exc):
        if isinstance(error, OSError) and error.filename:
            return str(error.filename)
    return None


def _is_disk_full(exc: BaseException, written: str | None) -> bool:
    if _errno(exc) in _DISK_FULL_ERRNOS:
        return True
    if written is None or not isinstance(exc, (OSError, RuntimeError)):
        return False
    # torch.save reports a full disk as a failed check of its zip writer ("unexpected pos"),
    # without errno: what is left on the disk tells.
    folder = Path(written).parent
    try:
        return shutil.disk_usage(folder).free < _NEARLY_FULL_BYTES
    except OSError:
        return False


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError) or _is_gpu_out_of_memory(exc):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "can't allocate memory" in text or "not enough memory" in text
    )


def _is_gpu_out_of_memory(exc: BaseException) -> bool:
    # Looked up by name so that this module needs no torch import.
    return any(type(error).__name__ == "OutOfMemoryError" for error in _chain(exc))


def _release_gpu_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
