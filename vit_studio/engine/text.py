"""Wording shared by the CLI and the GUI."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """'1 file', '2 files': the count with the noun in the number it needs."""
    noun = singular if count == 1 else (plural or singular + "s")
    return f"{count} {noun}"
