"""The Lens tab: how the prediction forms with depth (the "logit lens", nostalgebraist 2020).

Each row is the class token after one block, read through the model's final LayerNorm and head
as if the network ended there (`Analysis.logit_lens`); the columns are the final top classes.
Early layers of a ViT are not trained to be read this way, so their rows are a probe, not what
the model "thinks" there; the last row is exactly the prediction.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from vit_studio.engine.analysis import TOP_K, Analysis
from vit_studio.engine.model import NO_CLASSIFIER
from vit_studio.gui.widgets.plots import PlotCanvas, placeholder

NOTE = (
    "Rows: the class token after each block, read through the final LayerNorm and head as if "
    "the model ended there; columns: the final top classes. The last row is the prediction; "
    "earlier rows are a probe of how it forms (their probabilities are not calibrated)."
)

TITLE = "Logit lens: the prediction by block"


class LogitLensView(QWidget):
    """Layers × the final top classes, coloured by probability, each cell labelled."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure = Figure(figsize=(7.5, 4.0), layout="constrained")
        self.canvas = PlotCanvas(self.figure)
        note = QLabel(NOTE)
        note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.canvas, 1)
        layout.addWidget(note)
        self._shown: np.ndarray | None = None  # [L, k], what the cells show
        self._classes: tuple[str, ...] = ()
        self._grid: _Grid | None = None
        self.clear()

    def clear(self, message: str | None = None) -> None:
        self._shown, self._classes = None, ()
        self._grid = None
        self.figure.clear()
        placeholder(self.figure.add_subplot(1, 1, 1), *(() if message is None else (message,)))
        self.canvas.relayout()
        self.canvas.draw_idle()

    def show_analysis(self, analysis: Analysis) -> None:
        if not analysis.has_classifier:
            self.clear(f"This model is {NO_CLASSIFIER}: there are no classes to read.")
            return
        top = [p.index for p in analysis.top_k(TOP_K)]
        shown = analysis.logit_lens[:, top]
        self._shown = shown
        self._classes = tuple(analysis.class_names[i] for i in top)
        if self._grid is None or self._grid.shape != shown.shape:
            self._grid = _Grid(self.figure, shown.shape)
        self._grid.show(shown, self._classes)
        # Laid out again only when the rows or the longest class name change: a new image of
        # the same model keeps the layout, which cost about as much as the drawing itself.
        self.canvas.relayout((shown.shape, max(len(name) for name in self._classes)))
        self.canvas.draw_idle()

    # --- the testable surface -------------------------------------------------------------------

    def shown(self) -> np.ndarray | None:
        """The probabilities in the cells, `[layers, top classes]`."""
        return self._shown

    def classes(self) -> tuple[str, ...]:
        return self._classes


class _Grid:
    """The chart's artists for one shape of rows × columns, made once and updated in place."""

    def __init__(self, figure: Figure, shape: tuple[int, int]) -> None:
        figure.clear()
        layers, columns = shape
        self.axes = axes = figure.add_subplot(1, 1, 1)
        self.image = axes.imshow(np.zeros(shape), cmap="viridis", vmin=0.0, vmax=1.0,
                                 aspect="auto")  # fmt: skip
        self.cells = [
            [axes.text(column, layer, "", ha="center", va="center", fontsize=8)
             for column in range(columns)]
            for layer in range(layers)
        ]  # fmt: skip
        axes.set_xticks(range(columns))
        # Block numbers under one axis label, and a short title: the cells keep the width of
        # the narrow side column, and the title is read whole in it.
        axes.set_yticks(range(layers), [str(i + 1) for i in range(layers)])
        axes.set_ylabel("after block")
        axes.set_title(TITLE)
        figure.colorbar(self.image, ax=axes, label="probability")

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.cells), len(self.cells[0])

    def show(self, shown: np.ndarray, classes: tuple[str, ...]) -> None:
        self.image.set_data(shown)
        for row, texts in zip(shown, self.cells, strict=True):
            for value, text in zip(row, texts, strict=True):
                text.set_text(f"{value:.0%}")
                text.set_color("black" if value > 0.6 else "white")
        self.axes.set_xticklabels(classes, rotation=30, ha="right")
