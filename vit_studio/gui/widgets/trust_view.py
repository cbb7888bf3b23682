"""The Trust tab: which attribution map to believe for this image, by perturbation.

Each method's map ranks the patches; removing them in that order (most relevant first for the
positive curve and deletion, least relevant first for the negative curve and insertion) shows
whether the model really relies on what the map highlights (Chefer et al. CVPR 2021, Petsiuk et
al. 2018; `engine.explain.faithfulness`). Scoring runs the model about twenty times a method, so
it is asked for with a button, runs in the inference worker and can be cancelled.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vit_studio.engine.explain.evaluate import LOWER_IS_BETTER, ImageScores
from vit_studio.engine.explain.faithfulness import (
    AUC_NAMES,
    CURVE_FRACTIONS,
    PERTURBATION_FRACTIONS,
)
from vit_studio.engine.explain.methods import METHOD_DESCRIPTIONS
from vit_studio.gui.widgets.plots import PlotCanvas, placeholder

_TITLES = {
    "positive_auc": "Positive ↓\n(most relevant removed)",
    "negative_auc": "Negative ↑\n(least relevant removed)",
    "deletion_auc": "Deletion ↓",
    "insertion_auc": "Insertion ↑",
}
_CURVES = (  # (field of Curves, x values, title)
    ("positive", PERTURBATION_FRACTIONS, "Positive: same top-1"),
    ("negative", PERTURBATION_FRACTIONS, "Negative: same top-1"),
    ("deletion", CURVE_FRACTIONS, "Deletion: p(predicted)"),
    ("insertion", CURVE_FRACTIONS, "Insertion: p(predicted)"),
)
IDLE_TEXT = (
    "Score the maps: each method's map ranks the patches, which are then removed in that "
    "order; a map the model really relies on changes its answer fastest when its top patches "
    "go (positive, deletion) and least when its bottom patches go (negative, insertion)."
)


class TrustView(QWidget):
    """Curves and AUCs of every attribution method for the image shown; `scoreRequested` and
    `cancelRequested` ask the window's worker."""

    scoreRequested = Signal()
    cancelRequested = Signal()
    scoresShown = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._score = QPushButton("Score the Maps")
        self._score.clicked.connect(self.scoreRequested)
        self._cancel = QPushButton("Cancel")
        self._cancel.clicked.connect(self.cancelRequested)
        self._bar = QProgressBar()
        self._status = QLabel(IDLE_TEXT)
        self._status.setWordWrap(True)
        self.figure = Figure(figsize=(8, 4.2))
        self.canvas = PlotCanvas(self.figure)
        self._table = QTableWidget(0, len(AUC_NAMES) + 1)
        self._table.setHorizontalHeaderLabels(["Method", *(_TITLES[n] for n in AUC_NAMES)])
        self._table.verticalHeader().hide()
        self._table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self._table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        buttons = QHBoxLayout()
        for widget in (self._score, self._cancel):
            buttons.addWidget(widget)
        buttons.addWidget(self._bar, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self._status)
        layout.addWidget(self.canvas, 3)
        layout.addWidget(self._table, 2)
        self._scores: ImageScores | None = None
        self.clear()

    # --- what the window tells it ---------------------------------------------------------------

    def clear(self, message: str = IDLE_TEXT) -> None:
        """A new image or model: the old scores no longer apply."""
        self._scores = None
        self._set_running(False)
        self._status.setText(message)
        self._table.setRowCount(0)
        self.figure.clear()
        placeholder(self.figure.add_subplot(1, 1, 1), "No scores yet")
        self.canvas.draw_idle()

    def set_available(self, available: bool, why_not: str = "") -> None:
        """Scoring needs an analysed image of a model with classes."""
        self._score.setEnabled(available and not self._cancel.isEnabled())
        self._score.setToolTip("" if available else why_not)

    def started(self) -> None:
        self._set_running(True)
        self._bar.setRange(0, 0)
        self._status.setText("Scoring the maps…")

    def show_progress(self, done: int, total: int) -> None:
        self._bar.setRange(0, total)
        self._bar.setValue(done)
        self._status.setText(f"Scored {done} of {total} methods…")

    def stopped(self, message: str) -> None:
        """Cancelled or failed: say so; the scores shown before, if any, are gone."""
        self.clear(message)

    def show_scores(self, scores: ImageScores) -> None:
        self._scores = scores
        self._set_running(False)
        self._draw_curves(scores)
        self._fill_table(scores)
        self._status.setText(
            "Areas under the curves of the predicted class; ★ marks the best of each column (ties "
            "too). "
            "Random is the bar a map must clear."
        )
        self.scoresShown.emit()

    # --- the testable surface -------------------------------------------------------------------

    def scores(self) -> ImageScores | None:
        return self._scores

    def table_text(self, row: int, column: int) -> str:
        return self._table.item(row, column).text()

    def status_text(self) -> str:
        return self._status.text()

    @property
    def running(self) -> bool:
        return self._cancel.isEnabled()

    # --- drawing --------------------------------------------------------------------------------

    def _set_running(self, running: bool) -> None:
        self._cancel.setEnabled(running)
        self._score.setEnabled(not running)
        self._bar.setVisible(running)

    def _draw_curves(self, scores: ImageScores) -> None:
        figure = self.figure
        figure.clear()
        # Two by two: readable in the explorer's narrow side panel as in a wide one.
        axes = figure.subplots(2, 2, sharey=True).ravel()
        for ax, (field, xs, title) in zip(axes, _CURVES, strict=True):
            for name, curves in scores.curves.items():
                style = {"color": "0.5", "linestyle": ":"} if name == "random" else {}
                ax.plot(xs, getattr(curves, field), marker=".", label=name, **style)
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("fraction of patches", fontsize=8)
            ax.set_ylim(-0.05, 1.05)
            ax.grid(alpha=0.3)
        axes[-1].legend(fontsize=7, loc="lower right")
        self.canvas.relayout()
        self.canvas.draw_idle()

    def _fill_table(self, scores: ImageScores) -> None:
        names = list(scores.curves)
        self._table.setRowCount(len(names))
        best = {auc: scores.best(auc) for auc in AUC_NAMES}
        bold = QFont()
        bold.setBold(True)
        for row, name in enumerate(names):
            label = QTableWidgetItem(name)
            label.setToolTip(METHOD_DESCRIPTIONS[name])
            self._table.setItem(row, 0, label)
            aucs = scores.curves[name].aucs()
            for column, auc in enumerate(AUC_NAMES, start=1):
                value = f"{aucs[auc]:.1f}" if auc in ("positive_auc", "negative_auc") else (
                    f"{aucs[auc]:.3f}"
                )
                item = QTableWidgetItem(value + (" ★" if name in best[auc] else ""))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if name in best[auc]:
                    item.setFont(bold)
                direction = "lower" if auc in LOWER_IS_BETTER else "higher"
                item.setToolTip(f"{_TITLES[auc].splitlines()[0]}: {direction} is better")
                self._table.setItem(row, column, item)
