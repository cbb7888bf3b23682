"""The window's status bar: messages on the left; on the right, whether the model is busy, the
folder export's progress, the model, its device and how long the last analysis took."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton, QWidget

from vit_studio.gui.state.results import ImageResult, ModelSummary


def timing_text(result: ImageResult) -> str:
    """The last analysis's time in the worker thread, lap by lap, in ms."""
    laps = result.analysis.timings_ms
    parts = [f"decode {result.decode_ms:.0f}"] + [f"{name} {ms:.0f}" for name, ms in laps.items()]
    return f"Analysis {result.total_ms:.0f} ms ({', '.join(parts)})"


class StatusBar(QStatusBar):
    """`showMessage` as usual, plus the permanent widgets. `cancelExportRequested` when the user
    stops the folder export."""

    cancelExportRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._busy = QProgressBar()
        self._busy.setRange(0, 0)
        self._busy.setMaximumWidth(120)
        self._busy.setToolTip("The model is loading or analysing")
        self._busy.hide()
        self._export_progress = QProgressBar()
        self._export_progress.setMaximumWidth(200)
        self._export_progress.setFormat("CSV %v / %m")
        self._export_progress.setToolTip("Folder predictions being exported")
        self._export_cancel = QToolButton()
        self._export_cancel.setText("Cancel")
        self._export_cancel.setToolTip("Stop the folder export; the rows finished so far are kept")
        self._export_cancel.clicked.connect(self.cancelExportRequested)
        self._export_progress.hide()
        self._export_cancel.hide()
        self._device_label = QLabel("Device: —")
        self._device_label.setToolTip("Where the model runs")
        self._model_label = QLabel("No model")
        self._model_label.setToolTip("The loaded model")
        self._timing_label = QLabel("")
        self._timing_label.setToolTip(
            "Time of the last analysis in the worker thread: decoding the image, the forward "
            "pass, class gradients and the derived maps"
        )
        for widget in (
            self._busy,
            self._export_progress,
            self._export_cancel,
            self._model_label,
            self._device_label,
            self._timing_label,
        ):
            self.addPermanentWidget(widget)

    def set_busy(self, busy: bool) -> None:
        self._busy.setVisible(busy)

    def show_model(self, summary: ModelSummary) -> None:
        self._model_label.setText(f"Model: {summary.name}")
        self._model_label.setToolTip(str(summary.path))
        self._device_label.setText(f"Device: {summary.device_label}")

    def show_timing(self, result: ImageResult) -> None:
        self._timing_label.setText(timing_text(result))

    def set_export_running(self, running: bool) -> None:
        self._export_progress.setVisible(running)
        self._export_cancel.setVisible(running)

    def show_export_progress(self, done: int, total: int) -> None:
        self._export_progress.setRange(0, total)
        self._export_progress.setValue(done)
