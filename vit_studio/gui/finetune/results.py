"""How a run ended: the kept model against its controls, its accuracy per class, the images it
gets most wrong, and what to do with it."""

from __future__ import annotations

import html

import numpy as np
from matplotlib.figure import Figure
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from vit_studio.engine.text import counted, elapsed_text
from vit_studio.engine.training.start import StartingPoint
from vit_studio.gui.finetune.top_losses import TopLosses
from vit_studio.gui.state.finetune import FinetuneSession
from vit_studio.gui.state.finetune_phases import ENDINGS, PanelState
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
        self,
        epoch: int,
        confusion: np.ndarray,
        class_names: tuple[str, ...],
        baseline: float | None = None,
    ) -> None:
        """The accuracy per class of the model after `epoch` (its validation `confusion`);
        `baseline`, the pixels-alone accuracy, as a line."""
        axes = self.axes
        axes.clear()
        axes.set_axis_on()
        images = confusion.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            accuracy = np.diag(confusion) / images
        overall = confusion.trace() / max(1, confusion.sum())
        rows = np.arange(len(class_names))
        axes.barh(rows, np.nan_to_num(accuracy), color=BAR_COLOUR)
        for row, value in zip(rows, accuracy, strict=True):
            text = "no images" if np.isnan(value) else f"{value:.0%}"
            axes.text(min(np.nan_to_num(value), 1.0) + 0.01, row, text, va="center",
                      fontsize="small")  # fmt: skip
        axes.axvline(overall, color=MEAN_COLOUR, ls="--", label=f"all classes: {overall:.1%}")
        if baseline is not None:
            axes.axvline(baseline, color=BASELINE_COLOUR, ls=":",
                         label=f"pixels alone: {baseline:.1%}")  # fmt: skip
        legend_below(self.figure, axes.get_legend_handles_labels()[0])
        axes.set_yticks(rows, class_names, fontsize="small" if len(rows) > 12 else None)
        axes.invert_yaxis()
        axes.set_xlim(0.0, 1.12)
        axes.xaxis.set_major_formatter(lambda value, _pos: f"{value:.0%}")
        axes.set_xlabel("Validation accuracy")
        model = "the starting model" if epoch == 0 else f"model of epoch {epoch}"
        axes.set_title(f"Accuracy per class, {model}")
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
    """The summary of a finished (or stopped) run beside what not fine-tuning scores, accuracy
    per class, the largest losses, Save As and Open; it follows `session`.

    `saveRequested` and `openRequested` come from the buttons; the panel asks where to save.
    """

    saveRequested = Signal()
    openRequested = Signal()

    def __init__(self, session: FinetuneSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._summary = QLabel()
        self._summary.setWordWrap(True)
        self._summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.chart = ClassAccuracyChart()
        self.losses = TopLosses()
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
        self._settings = QLabel()
        self._settings.setWordWrap(True)
        self._settings.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._settings.setToolTip(
            "The settings of the run, and why each one left to the data has its value: what "
            "was measured on the folder included"
        )
        buttons = QHBoxLayout()
        buttons.addWidget(self.save_button)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(self._summary)
        layout.addLayout(buttons)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.losses, 1)
        layout.addWidget(self._settings)
        layout.addWidget(self._command)
        self.clear()
        session.run_requested.connect(lambda _request: self.clear())
        session.run_ended.connect(lambda _result: self._show_result())
        session.phase_changed.connect(self._on_phase)

    def summary(self) -> str:
        return self._summary.text()

    def settings_text(self) -> str:
        """The run's settings and why, as shown."""
        return self._settings.text()

    def clear(self) -> None:
        self._summary.setText("The result of a run appears here once it ends.")
        self._settings.clear()
        self._command.clear()
        self.chart.clear()
        self.losses.clear()
        self.set_model_available(False)

    def set_model_available(self, available: bool) -> None:
        self.save_button.setEnabled(available)
        self.open_button.setEnabled(available)

    def _on_phase(self, phase: PanelState) -> None:
        if phase == PanelState.FAILED:  # a failed run may still have kept a model
            self.set_model_available(self._session.model_path is not None)

    def _show_result(self) -> None:
        session = self._session
        result, run = session.result, session.run
        if result is None:
            return
        model = session.model_path
        baseline = run.pixel_baseline if run is not None else None
        text = (
            f"<b>{ENDINGS[result.status]}</b> after {counted(result.epochs_completed, 'epoch')} "
            f"in {elapsed_text(result.seconds)}. "
        )
        if result.best_val_acc is not None:
            kept = "the starting model" if result.best_epoch == 0 else f"epoch {result.best_epoch}"
            text += f"Kept model: {kept}, validation accuracy {result.best_val_acc:.1%}. "
            text += _controls(result.start, baseline)
        elif result.epochs_completed:
            text += "No validation images: the latest epoch's model was kept. "
        text += f"Run files: {model.parent}" if model is not None else "No model was written."
        self._summary.setText(text)
        kept = session.snapshot(result.best_epoch)
        names = run.class_names if run is not None else ()
        validation = run.validation if run is not None else None
        if kept is not None and kept.confusion is not None and validation is not None:
            self.chart.show_epoch(kept.epoch, kept.confusion, names, baseline)
            self.losses.show_losses(validation, kept.probabilities, kept.epoch)
        else:
            self.chart.clear()
            self.losses.clear()
        lines = run.explanation if run is not None else ()
        escaped = "<br>".join(html.escape(line) for line in lines)
        self._settings.setText(f"<small>{escaped}</small>" if lines else "")
        command = run.command if run is not None else ""
        self._command.setText(
            f"<small>Same run from a terminal: <code>{html.escape(command)}</code></small>"
        )
        self.set_model_available(model is not None)


def _controls(start: StartingPoint | None, baseline: float | None) -> str:
    """What not fine-tuning scored on the same validation images, in words."""
    parts = []
    if start is not None and start.base_acc is not None:
        parts.append(f"the base model alone {start.base_acc:.1%}")
    if start is not None and start.probe_acc is not None:
        parts.append(f"a probe on its frozen features {start.probe_acc:.1%}")
    if baseline is not None:
        parts.append(f"pixels alone {baseline:.1%}")
    if not parts:
        return ""
    return "Without fine-tuning: " + ", ".join(parts) + ". "
