"""How a run ended: validation accuracy per class of the kept model, and what to do with it."""

from __future__ import annotations

import html

import numpy as np
from matplotlib.figure import Figure
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from vit_studio.engine.text import counted, elapsed_text
from vit_studio.engine.training import EpochInfo, RunStatus, TrainResult
from vit_studio.gui.widgets.plots import PlotCanvas, legend_below

BAR_COLOUR = "#4a7fc1"
MEAN_COLOUR = "#e07020"
BASELINE_COLOUR = "#555555"


class ClassAccuracyChart(QWidget):
    """Validation accuracy per class as horizontal bars, the overall accuracy as a line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure = Figure(figsize=(5.0, 3.0), layout="constrained")
        self.canvas = PlotCanvas(self.figure)
        self.canvas.setToolTip(
            "Share of each class's validation images the saved model classifies correctly. "
            "Classes far below the line need more (or more varied) images."
        )
        self.canvas.setMinimumSize(240, 160)
        self.axes = self.figure.add_subplot()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self.clear()

    def show_epoch(
        self, info: EpochInfo, class_names: tuple[str, ...], baseline: float | None = None
    ) -> None:
        """The epoch's accuracy per class; `baseline`, the pixels-alone accuracy, as a line."""
        axes = self.axes
        axes.clear()
        axes.set_axis_on()
        accuracy = np.array(
            [np.nan if a is None else a for a in (info.val_class_acc or ())], dtype=float
        )
        rows = np.arange(len(class_names))
        axes.barh(rows, np.nan_to_num(accuracy), color=BAR_COLOUR)
        for row, value in zip(rows, accuracy, strict=True):
            text = "no images" if np.isnan(value) else f"{value:.0%}"
            axes.text(min(np.nan_to_num(value), 1.0) + 0.01, row, text, va="center",
                      fontsize="small")  # fmt: skip
        if info.val_acc is not None:
            axes.axvline(info.val_acc, color=MEAN_COLOUR, ls="--",
                         label=f"all classes: {info.val_acc:.1%}")  # fmt: skip
        if baseline is not None:
            axes.axvline(baseline, color=BASELINE_COLOUR, ls=":",
                         label=f"pixels alone: {baseline:.1%}")  # fmt: skip
        legend_below(self.figure, axes.get_legend_handles_labels()[0])
        axes.set_yticks(rows, class_names, fontsize="small" if len(rows) > 12 else None)
        axes.invert_yaxis()
        axes.set_xlim(0.0, 1.12)
        axes.xaxis.set_major_formatter(lambda value, _pos: f"{value:.0%}")
        axes.set_xlabel("Validation accuracy")
        axes.set_title(f"Accuracy per class, model of epoch {info.epoch}")
        axes.grid(True, axis="x", alpha=0.3)
        self.canvas.relayout()
        self.canvas.draw_idle()

    def clear(self) -> None:
        self.axes.clear()
        legend_below(self.figure, [])
        self.axes.set_axis_off()
        self.axes.set_title("Accuracy per class")
        self.canvas.relayout()
        self.canvas.draw_idle()


class ResultsView(QWidget):
    """The summary of a finished (or stopped) run, per-class accuracy, Save As and Open.

    `saveRequested` and `openRequested` come from the buttons; the panel does the work.
    """

    saveRequested = Signal()
    openRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._summary = QLabel()
        self._summary.setWordWrap(True)
        self._summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.chart = ClassAccuracyChart()
        self.save_button = QPushButton("Save Model As…")
        self.save_button.setToolTip(
            "Save the kept model (the best epoch by validation accuracy) as a ViT Studio "
            ".safetensors file; its class names travel in the file's metadata"
        )
        self.save_button.clicked.connect(self.saveRequested)
        self.open_button = QPushButton("Open in Explorer")
        self.open_button.setToolTip("Switch the explorer to the fine-tuned model")
        self.open_button.clicked.connect(self.openRequested)
        self._command = QLabel()
        self._command.setWordWrap(True)
        self._command.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._command.setToolTip("The same run from a terminal gives the same model")
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self._summary)
        layout.addLayout(buttons)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self._command)
        self.clear()

    def summary(self) -> str:
        return self._summary.text()

    def clear(self) -> None:
        self._summary.setText("The result of a run appears here once it ends.")
        self._command.clear()
        self.chart.clear()
        self.set_model_available(False)

    def set_model_available(self, available: bool) -> None:
        self.save_button.setEnabled(available)
        self.open_button.setEnabled(available)

    def show_result(
        self,
        result: TrainResult,
        class_names: tuple[str, ...],
        command: str,
        saved_to: str,
        baseline: float | None = None,
    ) -> None:
        """`baseline`: the validation accuracy of logistic regression on the raw pixels."""
        ended = {
            RunStatus.COMPLETED: "Finished",
            RunStatus.CANCELLED: "Cancelled",
            RunStatus.TIME_BUDGET: "Stopped at its time budget",
        }[result.status]
        text = (
            f"<b>{ended}</b> after {counted(result.epochs_completed, 'epoch')} in "
            f"{elapsed_text(result.seconds)}. "
        )
        if result.best_val_acc is not None:
            text += (
                f"Kept model: epoch {result.best_epoch}, validation accuracy "
                f"{result.best_val_acc:.1%}. "
            )
            if baseline is not None:
                text += (
                    f"Pixels alone: {baseline:.1%} (logistic regression on the raw pixels: what "
                    "the model must beat to have learned anything). "
                )
        elif result.epochs_completed:
            text += "No validation images: the latest epoch's model was kept. "
        text += saved_to
        self._summary.setText(text)
        best = next(
            (e for e in result.history if e.epoch == result.best_epoch and e.val_class_acc), None
        )
        if best is not None:
            self.chart.show_epoch(best, class_names, baseline)
        else:
            self.chart.clear()
        self._command.setText(
            f"<small>Same run from a terminal: <code>{html.escape(command)}</code></small>"
        )
