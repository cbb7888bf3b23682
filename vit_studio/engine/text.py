"""Wording shared by the CLI and the GUI: counts and durations."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """'1 file', '2 files': the count with the noun in the number it needs."""
    noun = singular if count == 1 else (plural or singular + "s")
    return f"{count} {noun}"


def clock_text(seconds: float) -> str:
    """A time left as a clock shows it: '4:05', '1:02:03'."""
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def elapsed_text(seconds: float) -> str:
    """A time taken, rounded as people say it: '42 s', '3.5 min', '1.2 h'."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
