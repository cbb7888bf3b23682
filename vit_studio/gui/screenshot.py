"""`--screenshot OUT.png`: picture the window once it shows what was asked for, then exit.

For an image: once its analysis is on screen (in split view, in both panes), with the overlay
that matches `--view`. For `--view finetune` and a folder: once a fine-tune with the panel's
default settings has ended, at its biggest confusion; a folder that cannot be trained on is
pictured as its scan report. The picture is saved as a PNG and one line says what it shows
(exit 0); a user error is one line on standard error (exit 2); nothing shown in time is exit 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QDockWidget

from vit_studio.engine.analysis import best_prediction_text
from vit_studio.engine.errors import StudioError
from vit_studio.engine.text import counted, elapsed_text
from vit_studio.gui.exports import save_png
from vit_studio.gui.main_window import MainWindow
from vit_studio.gui.state.finetune_phases import PanelState

EXIT_USER_ERROR = 2
EXIT_TIMED_OUT = 1
TIMEOUT_MS = 300_000  # an analysis: a ViT-L on a slow CPU still finishes well within this
FINETUNE_TIMEOUT_MS = 3_600_000  # a fine-tune with the default settings on a laptop CPU
SIZE = (1500, 950)
SPLIT_POLL_MS = 100
SETTLE_MS = 500


class Screenshot:
    """Waits for what `options` asks to see, then saves the window and closes it."""

    def __init__(self, app: QApplication, window: MainWindow, options: argparse.Namespace):
        self._app = app
        self._window = window
        self._view = options.view
        self._out = Path(options.screenshot)
        self.exit_code = 0

    def start(self, model: Path | None, image: Path | None, finetuning: bool) -> None:
        """Start waiting; `finetuning`: `image` is a folder to fine-tune on."""
        window = self._window
        window.interactive = False  # a question would wait forever: its message is the error
        if model is None or image is None:
            self._fail("--screenshot needs a model (--model) and an image (IMAGE)")
            return
        if finetuning:
            panel = window.finetune_panel
            # Start once, as soon as the folder is scanned and the base model known.
            panel.readyChanged.connect(
                lambda ready: ready and panel.state() == PanelState.READY and panel.start()
            )
            panel.runEnded.connect(
                lambda result: self._capture(_run_text(result, panel.run_info))
            )
            panel.errorShown.connect(self._fail)
            panel.scanned.connect(self._picture_if_blocked)
        elif self._view == "trust":
            # The picture is of the scores: ask for them once the image is analysed.
            trust = window.views.trust
            window.analysisReady.connect(lambda _analysis: trust.scoreRequested.emit())
            trust.scoresShown.connect(lambda: self._capture(self._analysis_text()))
        else:
            window.analysisReady.connect(lambda _analysis: self._capture(self._analysis_text()))
        window.errorShown.connect(self._fail)
        if window.split_view.compare is not None:
            window.split_view.compare.errorShown.connect(self._fail)
        QTimer.singleShot(FINETUNE_TIMEOUT_MS if finetuning else TIMEOUT_MS, self._time_out)

    def _capture(self, shows: str) -> None:
        compare = self._window.split_view.compare
        if compare is not None and (compare.state.result is None or compare.busy):
            # The second pane analyses in its own thread: picture both panes once it is done.
            QTimer.singleShot(SPLIT_POLL_MS, lambda: self._capture(shows))
            return
        self._prepare_view()
        # A page that grew (tables filled, a scroll area resized) lays out and redraws its
        # charts through posted events and timers: picture it once they have run.
        QTimer.singleShot(SETTLE_MS, lambda: self._save(shows))

    def _save(self, shows: str) -> None:
        self._app.processEvents()
        try:
            save_png(self._window.grab(), self._out)
        except StudioError as exc:
            print(f"vit-studio: error: {exc}", file=sys.stderr)
            self.exit_code = EXIT_USER_ERROR
        else:
            print(f"{self._out}: {shows}")
        self._window.close()

    def _fail(self, message: str) -> None:
        print(f"vit-studio: error: {message}", file=sys.stderr)
        self.exit_code = EXIT_USER_ERROR
        self._window.close()

    def _time_out(self) -> None:
        print("vit-studio: error: nothing was shown in time", file=sys.stderr)
        self.exit_code = EXIT_TIMED_OUT
        self._window.close()

    def _picture_if_blocked(self, result) -> None:
        if result.scan is None:
            print(f"vit-studio: error: {result.problem}", file=sys.stderr)
            self._capture(f"the scan report of {result.folder}, which cannot be trained on")
            self.exit_code = EXIT_USER_ERROR

    def _analysis_text(self) -> str:
        state = self._window.state
        best = best_prediction_text(state.result.analysis)
        return f"{self._view} of {state.result.path.name} by {state.model.name}: {best}"

    def _prepare_view(self) -> None:
        """Make the window match the view being pictured."""
        window, view = self._window, self._view
        if view == "finetune":
            # The picture is of the panel: the explorer's side docks would only squeeze it.
            for name in ("model_dock", "folder_dock"):
                window.findChild(QDockWidget, name).hide()
            window.show_view(view)
            panel = window.finetune_panel
            if panel.state() == PanelState.BLOCKED:
                panel.show_page("data")
            else:
                panel.show_biggest_confusion()
            return
        state = window.state
        analysis = state.result.analysis
        if view == "attention":
            state.select_head(analysis.num_layers - 1, -1)
        elif view in ("posembed", "patch"):
            g = analysis.grid_size
            state.select_patch((g // 2) * g + g // 3, overlay=view)
        window.show_view(view)


def _run_text(result, run) -> str:
    if result is None:
        return "a fine-tune cancelled before it began"
    best = f", best validation accuracy {result.best_val_acc:.1%}" if result.best_val_acc else ""
    if run is not None and run.pixel_baseline is not None:
        best += f" (pixels alone {run.pixel_baseline:.1%})"
    epochs = counted(result.epochs_completed, "epoch")
    took = elapsed_text(result.seconds)
    return f"a fine-tune {result.status.outcome} after {epochs} in {took}{best}"
