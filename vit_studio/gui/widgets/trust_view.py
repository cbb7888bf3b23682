"""The Trust tab: which attribution map to believe for this image, by perturbation.

Each method's map ranks the patches; removing them in that order (most relevant first for the
positive curve and deletion, least relevant first for the negative curve and insertion) shows
whether the model really relies on what the map highlights (Chefer et al. CVPR 2021, Petsiuk et
al. 2018; `engine.explain.faithfulness`). Scoring runs the model about twenty times a method, so
it is asked for with a button, runs in the inference worker and can be cancelled. Score the
Folder does the same for every image of the folder open in the filmstrip and shows the mean
AUCs with their 95 % bootstrap intervals and the verdict against random (`FolderTable`).
"""

from __future__ import annotations

from matplotlib.figure import Figure
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vit_studio.engine.explain.evaluate import LOWER_IS_BETTER, FaithfulnessReport, ImageScores
from vit_studio.engine.explain.faithfulness import (
    AUC_NAMES,
    CURVE_FRACTIONS,
    PERTURBATION_FRACTIONS,
)
from vit_studio.gui.widgets.auc_tables import TITLES, AucTableBase
from vit_studio.gui.widgets.folder_scores import FolderTable
from vit_studio.gui.widgets.plots import PlotCanvas, placeholder

# Two tables of two columns, as the charts are two by two: each fits the narrow side column
# with the methods' names whole.
TABLES = (("positive_auc", "negative_auc"), ("deletion_auc", "insertion_auc"))
CHART_MIN_HEIGHT = 340  # four curves and their legend stay readable; the tab scrolls below it
LEGEND_COLUMNS = 2
_CURVES = (  # (field of Curves, x values, title, what the curve measures)
    ("positive", PERTURBATION_FRACTIONS, "Positive", "same top-1"),
    ("negative", PERTURBATION_FRACTIONS, "Negative", "same top-1"),
    ("deletion", CURVE_FRACTIONS, "Deletion", "p(predicted)"),
    ("insertion", CURVE_FRACTIONS, "Insertion", "p(predicted)"),
)
IDLE_TEXT = (
    "Score the maps: each method's map ranks the patches, which are then removed in that "
    "order; a map the model really relies on changes its answer fastest when its top patches "
    "go (positive, deletion) and least when its bottom patches go (negative, insertion)."
)


class AucTable(AucTableBase):
    """The methods' areas under two of the curves, for one image."""

    def show_scores(self, scores: ImageScores) -> None:
        names = list(scores.curves)
        self.setRowCount(len(names))
        bold = QFont()
        bold.setBold(True)
        for row, name in enumerate(names):
            self.setItem(row, 0, self.method_item(name))
            aucs = scores.curves[name].aucs()
            for column, auc in enumerate(self.aucs, start=1):
                best = name in scores.best(auc)
                digits = 1 if auc in ("positive_auc", "negative_auc") else 3
                item = QTableWidgetItem(f"{aucs[auc]:.{digits}f}" + (" ★" if best else ""))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if best:
                    item.setFont(bold)
                direction = "lower" if auc in LOWER_IS_BETTER else "higher"
                item.setToolTip(f"{TITLES[auc][:-2]}: {direction} is better")
                self.setItem(row, column, item)
        self._fit()

    def clear_scores(self) -> None:
        self.setRowCount(0)
        self._fit()


class TrustView(QWidget):
    """Curves and AUCs of every attribution method for the image shown, and the folder's means
    with intervals; `scoreRequested`, `scoreFolderRequested` and `cancelRequested` ask the
    window's worker (`start_layer`: transformer attribution's, 0-based)."""

    scoreRequested = Signal()
    scoreFolderRequested = Signal()
    cancelRequested = Signal()
    scoresShown = Signal()
    folderScoresShown = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._score = QPushButton("Score the Maps")
        self._score.clicked.connect(self.scoreRequested)
        self._score_folder = QPushButton("Score the Folder")
        self._score_folder.setToolTip(
            "Score every image of the folder in the filmstrip: mean AUCs with 95 % bootstrap "
            "intervals, and whether each map beats random on the same images"
        )
        self._score_folder.clicked.connect(self.scoreFolderRequested)
        self._cancel = QPushButton("Cancel")
        self._cancel.clicked.connect(self.cancelRequested)
        self._bar = QProgressBar()
        self._start_layer = QSpinBox()
        self._start_layer.setRange(1, 1)
        self._start_layer.setToolTip(
            "The first layer transformer attribution multiplies in (1 = the first, as in the "
            "paper's equations and the rollout; the authors' evaluation script starts at the "
            "second, their start_layer=1)"
        )
        self._status = QLabel(IDLE_TEXT)
        self._status.setWordWrap(True)
        self.figure = Figure(figsize=(4.0, 4.2), layout="constrained")
        self.canvas = PlotCanvas(self.figure)
        self.canvas.setMinimumHeight(CHART_MIN_HEIGHT)
        self._tables = tuple(AucTable(aucs) for aucs in TABLES)
        self.folder_tables = tuple(FolderTable(aucs) for aucs in TABLES)
        self._folder_status = QLabel("")
        self._folder_status.setWordWrap(True)
        buttons = QHBoxLayout()
        for widget in (self._score, self._score_folder, self._cancel):
            buttons.addWidget(widget)
        options = QFormLayout()
        options.addRow("Transformer attribution from layer", self._start_layer)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self._bar)
        layout.addLayout(options)
        layout.addWidget(self._status)
        layout.addWidget(self.canvas, 1)
        for table in self._tables:
            layout.addWidget(table)
        layout.addWidget(self._folder_status)
        for table in self.folder_tables:
            layout.addWidget(table)
        self._scores: ImageScores | None = None
        self._unit = "methods"
        self._blank = False  # the chart shows no scores (and the tables none)
        self.clear()
        self.clear_folder()

    # --- what the window tells it ---------------------------------------------------------------

    def clear(self, message: str = IDLE_TEXT) -> None:
        """A new image or model: the old scores no longer apply."""
        self._set_running(False)
        self._status.setText(message)
        if self._blank:
            # Every new image clears the view: drawing the same empty chart again cost each
            # analysis a figure rebuild (and a redraw with the tab in front) on the GUI thread.
            return
        self._scores = None
        for table in self._tables:
            table.clear_scores()
        self.figure.clear()
        placeholder(self.figure.add_subplot(1, 1, 1), "No scores yet")
        self.canvas.draw_idle()
        self._blank = True

    def clear_folder(self) -> None:
        """A new model: the folder's scores were of the previous one."""
        self._folder_status.setText("")
        for table in self.folder_tables:
            table.clear_report()
            table.setVisible(False)

    def set_available(self, available: bool, why_not: str = "", layers: int = 1) -> None:
        """Scoring needs an analysed image of a model with classes (of `layers` layers)."""
        running = self._cancel.isEnabled()
        for button in (self._score, self._score_folder):
            button.setEnabled(available and not running)
        self._score.setToolTip("" if available else why_not)
        self._start_layer.setRange(1, max(1, layers))

    @property
    def start_layer(self) -> int:
        """Transformer attribution's first layer, 0-based."""
        return self._start_layer.value() - 1

    def started(self, unit: str = "methods") -> None:
        """Scoring has started; progress counts `unit` ('methods', or 'images' of a folder)."""
        self._unit = unit
        self._set_running(True)
        self._bar.setRange(0, 0)
        self._status.setText("Scoring the maps…" if unit == "methods" else "Scoring the folder…")

    def show_progress(self, done: int, total: int) -> None:
        self._bar.setRange(0, total)
        self._bar.setValue(done)
        self._status.setText(f"Scored {done} of {total} {self._unit}…")

    def stopped(self, message: str) -> None:
        """Cancelled or failed: say so; the scores shown before, if any, are gone."""
        self.clear(message)

    def show_folder_scores(self, report: FaithfulnessReport, folder: str) -> None:
        self._set_running(False)
        self._status.setText(IDLE_TEXT if self._scores is None else self._status.text())
        for table in self.folder_tables:
            table.show_report(report)
            table.setVisible(True)
        self._folder_status.setText(
            f"{report.images} images of {folder}: mean AUCs [95 % bootstrap interval]; against "
            "random on the same images: ✓ better by more than the interval, ≈ not told apart, "
            f"✗ worse. Transformer attribution from layer {report.start_layer + 1}."
        )
        self.folderScoresShown.emit()

    def folder_status_text(self) -> str:
        return self._folder_status.text()

    def folder_report(self) -> FaithfulnessReport | None:
        return self.folder_tables[0].report

    def folder_text(self, row: int, column: int) -> str:
        """Row `row` (a method) of the folder's scores: column 0 its name, 1.. its AUCs in the
        order of `AUC_NAMES`."""
        if column == 0:
            return self.folder_tables[0].text(row, 0)
        auc = AUC_NAMES[column - 1]
        table = next(table for table in self.folder_tables if auc in table.aucs)
        return table.text(row, 1 + table.aucs.index(auc))

    def show_scores(self, scores: ImageScores) -> None:
        self._scores, self._blank = scores, False
        self._set_running(False)
        self._draw_curves(scores)
        for table in self._tables:
            table.show_scores(scores)
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
        """Row `row` (a method) of the scores: column 0 its name, 1.. its AUCs in the order of
        `AUC_NAMES`."""
        if column == 0:
            return self._tables[0].text(row, 0)
        auc = AUC_NAMES[column - 1]
        table = next(table for table in self._tables if auc in table.aucs)
        return table.text(row, 1 + table.aucs.index(auc))

    def status_text(self) -> str:
        return self._status.text()

    @property
    def running(self) -> bool:
        return self._cancel.isEnabled()

    # --- drawing --------------------------------------------------------------------------------

    def _set_running(self, running: bool) -> None:
        self._cancel.setEnabled(running)
        self._score.setEnabled(not running)
        self._score_folder.setEnabled(not running)
        self._bar.setVisible(running)

    def _draw_curves(self, scores: ImageScores) -> None:
        figure = self.figure
        figure.clear()
        # Two by two: readable in the explorer's narrow side column as in a wide one.
        axes = figure.subplots(2, 2, sharey=True).ravel()
        for index, (ax, (field, xs, title, measured)) in enumerate(zip(axes, _CURVES, strict=True)):
            for name, curves in scores.curves.items():
                style = {"color": "0.5", "linestyle": ":"} if name == "random" else {}
                ax.plot(xs, getattr(curves, field), marker=".", label=name, **style)
            # Short titles, and each label once, so that two charts fit side by side in the
            # narrow side column.
            ax.set_title(title, fontsize=9)
            if index % 2 == 0:
                ax.set_ylabel(measured, fontsize=8)
            if index >= 2:
                ax.set_xlabel("fraction of patches", fontsize=8)
            ax.set_ylim(-0.05, 1.05)
            ax.grid(alpha=0.3)
        # One legend under the four charts: inside one of them it covered its curves.
        figure.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center",
                      ncols=LEGEND_COLUMNS, fontsize=7, frameon=False)  # fmt: skip
        self.canvas.relayout()
        self.canvas.draw_idle()
