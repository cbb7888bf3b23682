"""matplotlib charts embedded as Qt widgets: mean attention distance and patch-token norms.

Figures are built with `Figure` + `FigureCanvasQTAgg`, never pyplot, so no global figure state
leaks between widgets or tests. Artists are created once and updated in place, and redraws go
through `draw_idle`, so moving a control costs one coalesced repaint.
"""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backend_bases import MouseEvent
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator
from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSizePolicy, QSlider, QVBoxLayout, QWidget

from vit_studio.engine.analysis import Analysis

EMPTY_TEXT = "Analyse an image to fill this chart."


def head_colours(num_heads: int) -> np.ndarray:
    """One distinct colour per head: qualitative maps while they have enough entries."""
    if num_heads <= 20:
        # tab20 pairs a strong and a pale shade of each hue; all strong shades come first so
        # up to ten heads never share a hue.
        order = np.concatenate([np.arange(0, 20, 2), np.arange(1, 20, 2)])
        return colormaps["tab20"](order[:num_heads])
    return colormaps["turbo"](np.linspace(0.05, 0.95, num_heads))


def integer_ticks(axis: Axis, count: int) -> None:
    """Label 1..count at integer positions, thinned out so labels never crowd."""
    axis.set_major_locator(MaxNLocator(nbins=min(count, 12), integer=True, min_n_ticks=1))


def placeholder(axes: Axes, message: str = EMPTY_TEXT) -> Text:
    """The grey note in the middle of a chart that has nothing to show yet."""
    return axes.text(
        0.5, 0.5, message, transform=axes.transAxes, ha="center", va="center", color="grey",
        wrap=True,
    )  # fmt: skip


def legend_below(figure: Figure, handles: list, columns: int = 2) -> Legend | None:
    """One legend under the figure's charts, in place of any before it (inside a chart it
    covers bars or curves); none for no `handles`."""
    for legend in list(figure.legends):
        legend.remove()
    if not handles:
        return None
    return figure.legend(handles=handles, loc="outside lower center", ncols=columns,
                         fontsize="small", frameon=False)  # fmt: skip


def show_tick_labels(axes: Axes, visible: bool) -> None:
    """Hide the meaningless default ticks of an empty chart, keeping its title and labels."""
    axes.tick_params(labelbottom=visible, labelleft=visible)


class PlotCanvas(FigureCanvasQTAgg):
    """A canvas that solves its constrained layout only after a resize or `relayout()`.

    Laying out costs as much as drawing; changing data within the same axes (another layer,
    another selection) keeps the last layout and redraws about twice as fast.
    """

    def __init__(self, figure: Figure) -> None:
        super().__init__(figure)
        self._needs_layout = True
        self._layout_key: object = None  # what the last requested layout was for
        self._drawn_hidden = False  # a draw was skipped while hidden; catch up when shown
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def relayout(self, key: object = None) -> None:
        """Lay out again at the next draw (titles, ticks or legends changed size).

        With a `key` (what decides the layout: the counts of layers and heads, the widest tick
        label, ...), only when it differs from the last one: a new image of the same model
        keeps its layout, where laying out again cost each analysis about as much as drawing.
        """
        if key is not None and key == self._layout_key:
            return
        self._layout_key = key
        self._needs_layout = True

    def resizeEvent(self, event) -> None:
        self._needs_layout = True
        super().resizeEvent(event)

    def draw(self) -> None:
        # A chart on a hidden tab still gets data updates and resize events (a tab stack lays out
        # every page), and drawing it then stalls the GUI thread for nothing: at startup those
        # draws were the longest stall of a model load. It draws once it is shown instead.
        if not self.isVisible():
            self._drawn_hidden = True
            return
        self._drawn_hidden = False
        self.figure.set_layout_engine("constrained" if self._needs_layout else "none")
        super().draw()
        self._needs_layout = False

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._drawn_hidden:
            self.draw_idle()


class MeanDistancePlot(QWidget):
    """ViT paper Figure 7 (right): mean attention distance of every head against depth.

    Low distances are local, convolution-like heads; high ones attend across the image.
    `select(layer, head)` rings one dot (0-based; `head == -1` rings the layer's head average).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure = Figure(figsize=(5.5, 4.0), layout="constrained")
        self.canvas = PlotCanvas(self.figure)
        self.axes = self.figure.add_subplot()
        self._heads: list[PathCollection] = []
        self._distances: np.ndarray | None = None
        self._selection = self.axes.scatter(
            [], [], s=180, facecolors="none", edgecolors="black", linewidths=1.6, zorder=4
        )
        self._empty = placeholder(self.axes)
        self.axes.set_title("Mean attention distance per head")
        self.axes.set_xlabel("Network depth (layer)")
        self.axes.set_ylabel("Mean attention distance (pixels)")
        self.axes.grid(True, alpha=0.3)
        show_tick_labels(self.axes, False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)

    def show_analysis(self, analysis: Analysis) -> None:
        distances = analysis.mean_attention_distance
        layers, heads = distances.shape
        depth = np.arange(1, layers + 1)
        if len(self._heads) != heads:
            self._make_head_artists(heads)
        for head, artist in enumerate(self._heads):
            artist.set_offsets(np.column_stack([depth, distances[:, head]]))
        self._distances = distances
        self._selection.set_offsets(np.empty((0, 2)))
        self._empty.set_visible(False)
        show_tick_labels(self.axes, True)
        # The image size bounds the scale so models at the same resolution compare by eye.
        top = max(float(analysis.image_size), float(distances.max()) * 1.05)
        self.canvas.relayout(("shown", layers, heads, len(f"{top:.0f}")))
        self.axes.set_xlim(0.5, layers + 0.5)
        integer_ticks(self.axes.xaxis, layers)
        self.axes.set_ylim(0, top)
        self.canvas.draw_idle()

    def _make_head_artists(self, heads: int) -> None:
        for artist in self._heads:
            artist.remove()
        self._heads = [
            self.axes.scatter([], [], s=22, color=colour, label=f"Head {head + 1}", zorder=3)
            for head, colour in enumerate(head_colours(heads))
        ]
        self.axes.legend(
            handles=self._heads,
            loc="center left",
            bbox_to_anchor=(1.01, 0.5),
            fontsize="small",
            ncols=1 if heads <= 12 else 2,
            frameon=False,
        )

    def select(self, layer: int, head: int) -> None:
        if self._distances is None:
            return
        row = self._distances[layer]
        distance = row.mean() if head == -1 else row[head]
        self._selection.set_offsets([[layer + 1, distance]])
        self.canvas.draw_idle()

    def clear(self) -> None:
        for artist in self._heads:
            artist.remove()
        self._heads = []
        legend = self.axes.get_legend()
        if legend is not None:
            legend.remove()
        self._distances = None
        self._selection.set_offsets(np.empty((0, 2)))
        self._empty.set_visible(True)
        show_tick_labels(self.axes, False)
        self.canvas.relayout()
        self.canvas.draw_idle()

    def point_count(self) -> int:
        """Dots drawn, one per (layer, head)."""
        return sum(len(artist.get_offsets()) for artist in self._heads)


class TokenNormMap(QWidget):
    """Patch-token L2 norms of one layer on the patch grid, beside each layer's max and median.

    A max far above the median flags high-norm outlier tokens, the "registers" that large ViTs
    grow in low-information background patches (Darcet et al. 2023). The layer is chosen with
    the slider or by clicking the line chart.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._norms: np.ndarray | None = None  # [L, g, g]
        self.figure = Figure(figsize=(7.5, 3.6), layout="constrained")
        self.canvas = PlotCanvas(self.figure)
        self.canvas.setToolTip(
            "Top: L2 norm of every patch token after the chosen layer, coloured within that "
            "layer's range.\nBottom: the largest and the median patch-token norm of each layer. "
            "A max far above the median means a few high-norm outlier tokens\n(Darcet et al. "
            '2023, "Vision Transformers Need Registers"). Click a layer to show it.'
        )
        # One above the other: the chart lives in the explorer's narrow, tall side panel.
        self.map_axes, self.line_axes = self.figure.subplots(2, 1, height_ratios=[1.2, 1.0])
        self._image = self.map_axes.imshow(np.zeros((1, 1)), cmap="magma")
        self._colorbar = self.figure.colorbar(
            self._image, ax=self.map_axes, label="L2 norm (this layer's range)", shrink=0.9
        )
        self.map_axes.set_xlabel("Patch column")
        self.map_axes.set_ylabel("Patch row")
        (self._max_line,) = self.line_axes.plot([], [], "o-", ms=4, label="max (highest patch)")
        (self._median_line,) = self.line_axes.plot([], [], "s-", ms=3, label="median patch")
        self._layer_line = self.line_axes.axvline(1, color="grey", linestyle="--")
        self.line_axes.set_title("Patch-token norms by layer")
        self.line_axes.set_xlabel("Layer (click to show)")
        self.line_axes.set_ylabel("L2 norm")
        self.line_axes.grid(True, alpha=0.3)
        self._legend = self.line_axes.legend(loc="best", fontsize="small")
        self._empty = placeholder(self.line_axes)
        self.canvas.mpl_connect("button_press_event", self._on_click)

        self._slider = QSlider(Qt.Orientation.Horizontal)
        self._slider.setToolTip("Layer whose patch-token norms are shown on the grid")
        self._slider.valueChanged.connect(self._show_layer)
        self._layer_label = QLabel()
        controls = QHBoxLayout()
        controls.setContentsMargins(8, 0, 8, 4)
        controls.addWidget(QLabel("Layer"))
        controls.addWidget(self._slider, 1)
        controls.addWidget(self._layer_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas, 1)
        layout.addLayout(controls)
        self._set_empty(True)

    def layer(self) -> int:
        """The layer shown on the grid, 0-based."""
        return self._slider.value()

    def set_layer(self, layer: int) -> None:
        self._slider.setValue(layer)

    def show_analysis(self, analysis: Analysis) -> None:
        """Show `analysis`, keeping the current layer if it exists, else the last layer."""
        norms = analysis.patch_token_norms()
        layers, g, _ = norms.shape
        keep = self._norms is not None and self._slider.value() < layers
        layer = self._slider.value() if keep else layers - 1
        self._norms = norms
        flat = norms.reshape(layers, -1)
        depth = np.arange(1, layers + 1)
        self._max_line.set_data(depth, flat.max(axis=1))
        self._median_line.set_data(depth, np.median(flat, axis=1))
        self.line_axes.set_xlim(0.5, layers + 0.5)
        self.line_axes.set_ylim(0, float(flat.max()) * 1.08)
        integer_ticks(self.line_axes.xaxis, layers)
        self._image.set_extent((0.5, g + 0.5, g + 0.5, 0.5))
        integer_ticks(self.map_axes.xaxis, g)
        integer_ticks(self.map_axes.yaxis, g)
        self._set_empty(False, (layers, g, len(f"{flat.max() * 1.08:.0f}")))
        with QSignalBlocker(self._slider):
            self._slider.setRange(0, layers - 1)
            self._slider.setValue(layer)
        self._show_layer(layer)

    def clear(self) -> None:
        self._norms = None
        self._max_line.set_data([], [])
        self._median_line.set_data([], [])
        self._set_empty(True)
        self.canvas.draw_idle()

    def _set_empty(self, empty: bool, shape: tuple = ()) -> None:
        """Show the placeholder, or the charts of an analysis of `shape` (layers, grid, digits
        of the largest norm: what decides the layout)."""
        for artist in (self._image, self._layer_line, self._legend):
            artist.set_visible(not empty)
        self._empty.set_visible(empty)
        show_tick_labels(self.map_axes, not empty)
        show_tick_labels(self.line_axes, not empty)
        self._colorbar.ax.tick_params(labelright=not empty)
        self._slider.setEnabled(not empty)
        if empty:
            self.map_axes.set_title("Patch-token norm")
            self._layer_label.setText("–")
        self.canvas.relayout((empty, *shape))

    def _show_layer(self, layer: int) -> None:
        if self._norms is None:
            return
        values = self._norms[layer]
        self._image.set_data(values)
        self._image.set_clim(float(values.min()), float(values.max()))
        self.map_axes.set_title(f"Patch-token norm, layer {layer + 1}")
        self._layer_line.set_xdata([layer + 1, layer + 1])
        self._layer_label.setText(f"{layer + 1} / {self._norms.shape[0]}")
        self.canvas.draw_idle()

    def _on_click(self, event: MouseEvent) -> None:
        if event.inaxes is self.line_axes and self._norms is not None and event.xdata is not None:
            self.set_layer(int(np.clip(round(event.xdata) - 1, 0, self._norms.shape[0] - 1)))
