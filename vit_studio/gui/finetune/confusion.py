"""The validation confusion matrix of one epoch; clicking a cell picks those images."""

from __future__ import annotations

import numpy as np
from matplotlib.backend_bases import MouseEvent
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from vit_studio.gui.widgets.plots import PlotCanvas, placeholder

COLORMAP = "Blues"
MAX_ANNOTATED = 15  # classes up to which every cell shows its count
MAX_TICK_LABELS = 30  # classes up to which every class is named on the axes


class ConfusionMatrixView(QWidget):
    """Rows: true class; columns: predicted class; colour: share of the true class's images.

    `cellClicked(true_class, predicted_class)` on a click inside the matrix.
    """

    cellClicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure = Figure(figsize=(4.2, 3.8), layout="constrained")
        self.canvas = PlotCanvas(self.figure)
        self.canvas.setToolTip(
            "Each row is a true class, each column the class the model predicted. The diagonal "
            "holds the correct predictions. Colour: share of that row's images; number: images. "
            "Click a cell to see its images."
        )
        self.canvas.setMinimumSize(260, 240)  # below this the labels leave no room for cells
        self.axes = self.figure.add_subplot()
        self._image = self.axes.imshow(np.zeros((1, 1)), cmap=COLORMAP, vmin=0.0, vmax=1.0)
        self._colorbar = self.figure.colorbar(
            self._image, ax=self.axes, label="Share of the true class", shrink=0.85
        )
        self._colorbar.ax.yaxis.set_major_formatter(lambda value, _pos: f"{value:.0%}")
        self._selection = Rectangle((0, 0), 1, 1, fill=False, ec="#e02020", lw=2, visible=False)
        self.axes.add_patch(self._selection)
        self._texts: list = []
        self._counts: np.ndarray | None = None
        self._class_names: tuple[str, ...] = ()
        self.canvas.mpl_connect("button_press_event", self._on_click)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self.clear("Validation results appear after the first epoch.")

    def counts(self) -> np.ndarray | None:
        return self._counts

    def show_matrix(self, counts: np.ndarray, class_names: tuple[str, ...], title: str) -> None:
        size = len(class_names)
        rows = counts.sum(axis=1, keepdims=True)
        shares = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
        self._counts, self._class_names = counts, class_names
        axes = self.axes
        self._image.set_data(shares)
        self._image.set_extent((-0.5, size - 0.5, size - 0.5, -0.5))
        self._image.set_visible(True)
        self._label_axes(class_names)
        for text in self._texts:
            text.remove()
        self._texts = []
        if size <= MAX_ANNOTATED:
            for (row, column), count in np.ndenumerate(counts):
                dark = shares[row, column] > 0.55
                self._texts.append(
                    axes.text(
                        column,
                        row,
                        str(count),
                        ha="center",
                        va="center",
                        fontsize="small" if size > 8 else "medium",
                        color="white" if dark else "black",
                    )
                )
        # On the figure, not the axes: centred over the matrix and its colour bar together.
        self.figure.suptitle(title, fontsize="medium")
        axes.set_frame_on(True)
        self._colorbar.ax.set_visible(True)
        self._selection.set_visible(False)
        self.canvas.relayout()
        self.canvas.draw_idle()

    def select(self, true_class: int | None, predicted: int | None) -> None:
        """Outline one cell (None: no outline); does not emit."""
        shown = true_class is not None and predicted is not None
        self._selection.set_visible(shown)
        if shown:
            self._selection.set_xy((predicted - 0.5, true_class - 0.5))
        self.canvas.draw_idle()

    def clear(self, message: str) -> None:
        self._counts = None
        self._image.set_visible(False)
        for text in self._texts:
            text.remove()
        self._texts = [placeholder(self.axes, message)]
        self.axes.set_xticks([])
        self.axes.set_yticks([])
        self.axes.set_xlabel("")
        self.axes.set_ylabel("")
        self.figure.suptitle("Validation confusion matrix", fontsize="medium")
        self.axes.set_frame_on(False)
        self._colorbar.ax.set_visible(False)
        self._selection.set_visible(False)
        self.canvas.relayout()
        self.canvas.draw_idle()

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """The (true, predicted) cell at data coordinates (x, y), if inside the matrix."""
        if self._counts is None:
            return None
        row, column = round(y), round(x)
        size = len(self._counts)
        return (row, column) if 0 <= row < size and 0 <= column < size else None

    def _label_axes(self, class_names: tuple[str, ...]) -> None:
        axes, size = self.axes, len(class_names)
        ticks = np.arange(size)
        if size <= MAX_TICK_LABELS:
            font = "small" if size <= 6 else "x-small"
            axes.set_xticks(ticks, class_names, rotation=45, ha="right", fontsize=font)
            axes.set_yticks(ticks, class_names, fontsize=font)
        else:
            axes.set_xticks(ticks[:: max(1, size // 10)])
            axes.set_yticks(ticks[:: max(1, size // 10)])
        axes.set_xlabel("Predicted class")
        axes.set_ylabel("True class")

    def _on_click(self, event: MouseEvent) -> None:
        if event.inaxes is not self.axes or event.xdata is None or event.ydata is None:
            return
        cell = self.cell_at(event.xdata, event.ydata)
        if cell is not None:
            self.select(*cell)
            self.cellClicked.emit(*cell)
