"""The row under the fine-tune panel's pages: Start, Pause/Continue, Cancel, Resume Run, the
progress bar and the status line. It only shows the panel's state and passes the clicks on."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from vit_studio.engine.text import clock_text
from vit_studio.engine.training import StepInfo
from vit_studio.gui.state.finetune_phases import PanelState


class RunBar(QWidget):
    """`startClicked`, `pauseClicked` (Pause or Continue), `cancelClicked`, `resumeClicked`."""

    startClicked = Signal()
    pauseClicked = Signal()
    cancelClicked = Signal()
    resumeClicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.start = QPushButton("Start")
        self.start.setToolTip("Train with these settings; the explorer stays usable meanwhile")
        self.pause = QPushButton("Pause")
        self.pause.setToolTip("Hold the run between two steps; Continue picks it up again")
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip(
            "Stop before the next step. The files of the last finished epoch stay, so the run "
            "can be resumed."
        )
        self.resume = QPushButton("Resume Run")
        self.resume.setToolTip("Continue the stopped run from its last checkpoint")
        for button, signal in (
            (self.start, self.startClicked),
            (self.pause, self.pauseClicked),
            (self.cancel, self.cancelClicked),
            (self.resume, self.resumeClicked),
        ):
            button.clicked.connect(signal)
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self._status = QLabel()
        self._status.setWordWrap(True)  # a long status wraps rather than widen the panel
        row = QHBoxLayout()
        for button in (self.start, self.pause, self.cancel, self.resume):
            row.addWidget(button)
        row.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self._status)

    def show_state(self, state: PanelState, *, can_start: bool, resumable: bool) -> None:
        """Enable what `state` allows; `resumable`: the run's checkpoint is there."""
        self.start.setEnabled(can_start)
        self.pause.setEnabled(state in (PanelState.TRAINING, PanelState.PAUSED))
        self.pause.setText("Continue" if state == PanelState.PAUSED else "Pause")
        self.cancel.setEnabled(state in (PanelState.PREPARING, PanelState.TRAINING,
                                         PanelState.PAUSED))  # fmt: skip
        self.resume.setEnabled(state in (PanelState.CANCELLED, PanelState.FAILED) and resumable)

    def show_progress(self, done: int, total: int, text: str) -> None:
        """The bar at `done` of `total`; `text` as QProgressBar formats it ("epoch %v / %m")."""
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.progress.setFormat(text)

    def show_step(self, info: StepInfo, *, paused: bool) -> None:
        """The run's progress within its epoch, speed and time left, in the status line."""
        text = (
            f"Epoch {info.epoch}/{info.epochs} · step {info.step}/{info.steps_per_epoch} · "
            f"loss {info.loss:.3f} · accuracy {info.acc:.0%} · "
            f"{info.images_per_s:,.0f} images/s · {clock_text(info.eta_s)} left"
        )
        self.set_status(text + (" — paused" if paused else ""))

    def set_status(self, text: str) -> None:
        self._status.setText(text)

    def status(self) -> str:
        return self._status.text()
