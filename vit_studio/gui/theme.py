"""Light and dark: the colours the app paints itself follow the palette the system gives Qt.

Qt widgets follow the system palette on their own; what does not is what the app colours by
hand: the message banners and the matplotlib charts. `is_dark` reads the palette,
`banner_style` gives a banner's colours for it, and `follow_palette` restyles every chart under a
widget (and the defaults of charts made later) to the palette's window, base and text colours.
Data colours (heat maps, head colours, a label's contrast against its own cell) are left alone:
they mean something and read on either background. matplotlib is imported once a chart is made
(the chart pages are built when first shown), not for the window to open.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QWidget

if TYPE_CHECKING:
    from matplotlib.collections import Collection
    from matplotlib.figure import Figure

# Message banners: background, border, text; readable on a light and on a dark window.
BANNER_COLOURS = {
    ("error", False): ("#f8d7da", "#e0a0a6", "#58151c"),
    ("notice", False): ("#e7f1fb", "#a9c8e8", "#1d3b5a"),
    ("error", True): ("#4a1c21", "#8c3a43", "#f6d0d4"),
    ("notice", True): ("#1b2f45", "#3d6690", "#d6e6f7"),
}
_INK = "_vit_studio_ink"  # the text colour a figure was last styled with


def is_dark(palette: QPalette | None = None) -> bool:
    """Whether the window background is darker than its text (a dark theme)."""
    palette = palette if palette is not None else QGuiApplication.palette()
    window = palette.color(QPalette.ColorRole.Window)
    text = palette.color(QPalette.ColorRole.WindowText)
    return window.lightness() < text.lightness()


def banner_style(kind: str, dark: bool | None = None) -> str:
    """The style sheet of a banner of `kind` ('error' or 'notice'); `dark` defaults to what
    the application's palette is."""
    background, border, text = BANNER_COLOURS[(kind, is_dark() if dark is None else dark)]
    return (
        f"QFrame {{ background: {background}; border: 1px solid {border}; border-radius: 4px; }}"
        f"QLabel {{ color: {text}; border: none; background: transparent; }}"
        f"QToolButton {{ color: {text}; border: none; background: transparent; }}"
    )


def chart_colours(palette: QPalette) -> dict[str, str]:
    """Figure face, axes face, ink (text, ticks, spines) and grid colours for `palette`."""
    from matplotlib.colors import to_hex

    window = palette.color(QPalette.ColorRole.Window)
    base = palette.color(QPalette.ColorRole.Base)
    ink = palette.color(QPalette.ColorRole.WindowText)
    grid = QColor(ink)
    grid.setAlphaF(0.35)
    return {
        "face": window.name(),
        "axes": base.name(),
        "ink": ink.name(),
        "grid": to_hex(grid.getRgbF(), keep_alpha=True),
    }


def set_chart_defaults(palette: QPalette) -> None:
    """matplotlib's defaults for charts made from now on."""
    import matplotlib as mpl

    colours = chart_colours(palette)
    ink = colours["ink"]
    mpl.rcParams.update({
        "figure.facecolor": colours["face"],
        "axes.facecolor": colours["axes"],
        "axes.edgecolor": ink,
        "axes.labelcolor": ink,
        "axes.titlecolor": ink,
        "axes.titlesize": "medium",  # titles that fit over a chart in a narrow side panel
        "text.color": ink,
        "xtick.color": ink,
        "ytick.color": ink,
        "xtick.labelcolor": ink,
        "ytick.labelcolor": ink,
        "grid.color": colours["grid"],
        "legend.facecolor": colours["axes"],
        "legend.edgecolor": ink,
        "legend.labelcolor": ink,
        "savefig.facecolor": colours["face"],
    })  # fmt: skip


def style_figure(figure: Figure, palette: QPalette) -> None:
    """Restyle an existing figure's frame (faces, spines, ticks, titles, labels, legends) for
    `palette`, and the outline artists drawn in the old ink (an unfilled selection ring)."""
    colours = chart_colours(palette)
    ink, old_ink = colours["ink"], getattr(figure, _INK, "black")
    figure.set_facecolor(colours["face"])
    suptitle = getattr(figure, "_suptitle", None)
    if suptitle is not None:
        suptitle.set_color(ink)
    for axes in figure.axes:
        axes.set_facecolor(colours["axes"])
        for spine in axes.spines.values():
            spine.set_edgecolor(ink)
        axes.tick_params(which="both", colors=ink, labelcolor=ink)
        titles = [getattr(axes, name, None) for name in ("_left_title", "_right_title")]
        for text in [axes.title, *titles, axes.xaxis.label, axes.yaxis.label]:
            if text is not None:
                text.set_color(ink)
        for line in axes.get_xgridlines() + axes.get_ygridlines():
            line.set_color(colours["grid"])
        for collection in axes.collections:
            _recolour_outline(collection, old_ink, ink)
    legends = [axes.get_legend() for axes in figure.axes] + list(figure.legends)
    for legend in filter(None, legends):
        legend.get_frame().set_facecolor(colours["axes"])
        legend.get_frame().set_edgecolor(ink)
        for text in legend.get_texts():
            text.set_color(ink)
    setattr(figure, _INK, ink)


def _recolour_outline(collection: Collection, old_ink: str, ink: str) -> None:
    """An unfilled marker drawn in the ink (a selection ring) is frame, not data."""
    from matplotlib.colors import same_color

    faces, edges = collection.get_facecolor(), collection.get_edgecolor()
    unfilled = len(faces) == 0 or all(face[3] == 0 for face in faces)
    if unfilled and len(edges) and all(same_color(edge, old_ink) for edge in edges):
        collection.set_edgecolor(ink)


def follow_palette(root: QWidget, palette: QPalette | None = None) -> None:
    """Style the charts under `root`, and matplotlib's defaults, for `palette` (default: the
    application's); charts on screen redraw when idle. Before matplotlib is loaded there is no
    chart to restyle: the first one made sets the defaults (`set_chart_defaults`)."""
    if "matplotlib.backends.backend_qtagg" not in sys.modules:
        return
    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg

    palette = palette if palette is not None else root.palette()
    set_chart_defaults(palette)
    for canvas in root.findChildren(FigureCanvasQTAgg):
        style_figure(canvas.figure, palette)
        canvas.draw_idle()


def follow_system_scheme(app: QApplication) -> None:
    """Make sure a dark system theme reaches the widgets.

    Qt 6 follows the system's light or dark scheme with its Fusion, macOS, GTK and Windows 11
    styles; the older native Windows style ("windowsvista") ignores it, so a dark scheme there
    switches to Fusion, which draws the dark palette Qt reads from the system.
    """
    dark = app.styleHints().colorScheme() == Qt.ColorScheme.Dark
    if dark and app.style().name().lower() == "windowsvista":
        app.setStyle("Fusion")
