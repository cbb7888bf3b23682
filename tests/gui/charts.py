"""Measuring charts as they are drawn on screen, for tests of how they fit their panel."""

from __future__ import annotations

# The views' width in the side column of a 1280×800 and of a 1920×1080 window.
SIDE_VIEW_WIDTHS = (300, 460)


def drawn(canvas):
    """The figure laid out and drawn as on screen, and the renderer that measured it."""
    canvas.draw()
    return canvas.get_renderer()


def overlap(a, b) -> bool:
    """Whether two display boxes (matplotlib `Bbox`) share any area."""
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1
