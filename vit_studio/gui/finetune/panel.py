"""The fine-tune panel: choose a folder, check its report, adjust the settings, train, keep.

Pages follow the flow: Data (scan report), Settings (defaults from the data), Training (live
curves and the per-epoch views), Result (the kept model against not fine-tuning, accuracy per
class, the largest losses, Save As, Open in Explorer). The controls under the pages start, pause,
cancel and resume runs.

What the panel has chosen and what its run has shown live in a Qt-free `FinetuneSession`; the
widgets follow its events and write to it, and `bind_session` connects it to the training
thread (`gui.workers.training`). This module only builds the pages and binds the simple widgets
(folder row, report, curves, run bar, banner) to the session.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog, QScrollArea, QTabWidget, QVBoxLayout, QWidget

from vit_studio.engine.text import counted
from vit_studio.engine.training import StepInfo, TrainPaths, TrainResult
from vit_studio.engine.training.outputs import InterruptedRun
from vit_studio.gui.finetune.curves import TrainingCurves
from vit_studio.gui.finetune.epoch_scrubber import EpochScrubber, scrolled_page
from vit_studio.gui.finetune.folder_row import FolderRow
from vit_studio.gui.finetune.results import ResultsView
from vit_studio.gui.finetune.run_bar import RunBar
from vit_studio.gui.finetune.scan_report import ScanReport
from vit_studio.gui.finetune.settings_form import SettingsForm
from vit_studio.gui.state.finetune import FinetuneSession
from vit_studio.gui.state.finetune_phases import PanelState
from vit_studio.gui.state.finetune_results import EpochSnapshot, RunStarted, ScanResult
from vit_studio.gui.widgets.banner import Banner
from vit_studio.gui.workers.training import TrainingClient, bind_session

PAGES = ("data", "settings", "training", "result")


class FinetunePanel(QWidget):
    """Fine-tuning from a folder to a model open in the explorer.

    Its Qt signals mirror the session's events for the window and for tests that wait on them:
    `stateChanged(state)`; `scanned(ScanResult)`; `runStarted(RunStarted)`;
    `epochShown(EpochSnapshot)`; `runEnded(result)` (a TrainResult, or None when cancelled
    before training began); `modelSaved(path)`; `openInExplorer(path)`; `errorShown(message)`;
    `readyChanged(bool)` when starting becomes possible or not.
    """

    stateChanged = Signal(PanelState)
    scanned = Signal(object)
    runStarted = Signal(object)
    epochShown = Signal(object)
    runEnded = Signal(object)
    modelSaved = Signal(Path)
    openInExplorer = Signal(Path)
    errorShown = Signal(str)
    readyChanged = Signal(bool)

    def __init__(
        self,
        runs_dir: Path,
        parent: QWidget | None = None,
        *,
        num_threads: int | None = None,
        device: str = "auto",
    ) -> None:
        super().__init__(parent)
        self.session = FinetuneSession(runs_dir, device=device)
        self._client = TrainingClient(self, num_threads)
        self._stopped = False
        self._build()
        bind_session(self.session, self._client)
        self._follow_session()
        self.setAcceptDrops(True)
        self.run_bar.show_state(PanelState.IDLE, can_start=False, resumable=False)
        self._offered: InterruptedRun | None = None
        self.session.look_for_interrupted()

    # --- building -----------------------------------------------------------------------------

    def _build(self) -> None:
        session = self.session
        self.folder_row = FolderRow()
        self.folder_row.folderChosen.connect(session.choose_folder)
        self.folder_row.rescanClicked.connect(session.rescan)

        self._banner = Banner()

        self.report = ScanReport()
        self.form = SettingsForm(session)
        form_scroll = QScrollArea()
        form_scroll.setWidgetResizable(True)
        form_scroll.setWidget(self.form)
        self.curves = TrainingCurves()
        self.scrubber = EpochScrubber(session)
        training_page = scrolled_page(self.curves, self.scrubber)
        self.results = ResultsView(session)
        self.results.saveRequested.connect(self._ask_save)
        self.results.openRequested.connect(session.open_in_explorer)
        # The Result page scrolls in a short window: its chart and thumbnails keep their size.
        results_scroll = QScrollArea()
        results_scroll.setWidgetResizable(True)
        results_scroll.setWidget(self.results)
        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        self._pages: dict[str, QWidget] = {}
        for key, page, title, tip in (
            ("data", self.report, "1 Data", "What the folder holds for training"),
            ("settings", form_scroll, "2 Settings", "How the model is trained"),
            ("training", training_page, "3 Training", "Curves, and the model after each epoch"),
            ("result", results_scroll, "4 Result", "How the kept model does; save and open it"),
        ):
            self._pages[key] = page
            index = self.pages.addTab(page, title)
            self.pages.setTabToolTip(index, tip)

        self.run_bar = RunBar()
        self.run_bar.startClicked.connect(session.start)
        self.run_bar.pauseClicked.connect(self._toggle_pause)
        self.run_bar.cancelClicked.connect(session.cancel)
        self.run_bar.resumeClicked.connect(session.resume_run)

        layout = QVBoxLayout(self)
        layout.addWidget(self.folder_row)
        layout.addWidget(self._banner)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.run_bar)

    def _follow_session(self) -> None:
        """The simple widgets, and the panel's own signals, follow the session's events."""
        session = self.session
        session.folder_changed.connect(self._on_folder)
        session.scan_changed.connect(self._on_scan)
        session.stage_changed.connect(self._on_stage)
        session.phase_changed.connect(self._on_phase)
        session.ready_changed.connect(lambda _ready: self._update_controls())
        session.status_changed.connect(self.run_bar.set_status)
        session.error_changed.connect(self._on_error)
        session.notice_changed.connect(self._show_notice)
        session.run_requested.connect(lambda _request: self._on_launch())
        session.run_started.connect(self._on_run_started)
        session.step_added.connect(self._on_step)
        session.epoch_added.connect(self._on_epoch)
        session.scrubbed.connect(self.curves.mark_epoch)
        session.run_ended.connect(self._on_run_ended)
        session.saved.connect(self.modelSaved.emit)
        session.open_requested.connect(self.openInExplorer.emit)
        session.ready_changed.connect(self.readyChanged.emit)
        session.interrupted_found.connect(self._offer_resume)
        self._banner.dismissed.connect(self._dismissed)

    # --- the window's and tests' surface ---------------------------------------------------------

    def state(self) -> PanelState:
        return self.session.phase

    def status_text(self) -> str:
        return self.run_bar.status()

    def error_text(self) -> str:
        """The error in the panel's banner ('' when there is none)."""
        return self._banner.error_text()

    @property
    def client(self) -> TrainingClient:
        return self._client

    @property
    def run_paths(self) -> TrainPaths | None:
        """Where the current (or last) run writes."""
        return self.session.run_paths

    @property
    def result(self) -> TrainResult | None:
        return self.session.result

    @property
    def run_info(self) -> RunStarted | None:
        return self.session.run

    def show_page(self, page: str) -> None:
        """Bring a page to the front: one of `PAGES`."""
        self.pages.setCurrentWidget(self._pages[page])

    def current_page(self) -> str:
        return next(k for k, w in self._pages.items() if w is self.pages.currentWidget())

    def show_biggest_confusion(self) -> None:
        """The Training page at the newest epoch, its most frequent mistake selected."""
        self.show_page("training")
        self.scrubber.show_biggest_confusion()

    def set_explorer_model(self, path: Path, name: str, num_heads: int | None = None) -> None:
        """The explorer's model, offered (and by default used) as the base model."""
        self.form.set_explorer_model(Path(path), name, num_heads)

    def set_base_model(self, path: Path) -> None:
        self.form.set_base_model(Path(path))

    def set_device(self, device: str) -> None:
        self.session.set_device(device)

    def choose_folder(self, folder: str | Path) -> None:
        """Scan `folder` and show its report (the Data page)."""
        self.session.choose_folder(folder)

    def rescan(self) -> None:
        self.session.rescan()

    def can_start(self) -> bool:
        return self.session.can_start()

    def start(self) -> None:
        """Start a new run with the form's settings."""
        self.session.start()

    def resume_run(self) -> None:
        self.session.resume_run()

    def resume_checkpoint(self, checkpoint: str | Path) -> None:
        self.session.resume_checkpoint(checkpoint)

    def pause(self) -> None:
        self.session.pause()

    def continue_run(self) -> None:
        self.session.continue_run()

    def cancel(self) -> None:
        self.session.cancel()

    def model_path(self) -> Path | None:
        return self.session.model_path

    def save_model_as(self, target: str | Path) -> None:
        self.session.save_model_as(target)

    def open_in_explorer(self) -> None:
        self.session.open_in_explorer()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel any run (its last checkpoint stays) and stop the worker thread."""
        if self._stopped:
            return True
        self._stopped = self._client.stop(timeout_ms)
        return self._stopped

    # --- following the session ------------------------------------------------------------------

    def _on_folder(self, folder: Path | None, text: str) -> None:
        self.folder_row.show_folder(text, "" if folder is not None else text)
        if folder is not None:
            self.show_page("data")

    def _on_scan(self, result: ScanResult | None) -> None:
        folder = self.session.folder
        if result is None:
            if folder is not None:
                self.report.show_scanning(folder, 0, 0)
            return
        if result.scan is None:
            self.report.show_problem(
                result.folder, result.problem or "", result.found, result.short_classes
            )
        else:
            self.report.show_scan(result.scan)
        self.scanned.emit(result)

    def _on_stage(self, what: str, done: int, total: int) -> None:
        self.run_bar.show_progress(done, total, f"{what}: %v / %m")
        folder = self.session.folder
        if self.session.phase == PanelState.SCANNING and folder is not None:
            self.report.show_scanning(folder, done, total)

    def _on_phase(self, phase: PanelState) -> None:
        self._update_controls()
        if phase == PanelState.FINISHED:
            self.show_page("result")
        self.stateChanged.emit(phase)

    def _show_notice(self, message: str) -> None:
        self._offered = None  # the banner holds another message now
        self._banner.show_notice(message)

    def _on_error(self, message: str) -> None:
        self._offered = None
        if not message:
            self._banner.clear()
            return
        self._banner.show_error(message)
        self.errorShown.emit(message)

    def _on_launch(self) -> None:
        self._offered = None
        self._banner.clear()
        epochs = self.session.plan.config.epochs if self.session.plan is not None else 1
        self.curves.reset(epochs)
        self.show_page("training")

    def _on_run_started(self, run: RunStarted) -> None:
        config = run.config
        self.report.show_scan(run.scan)
        self.curves.reset(config.epochs, run.history)
        self.curves.set_baseline(run.pixel_baseline)
        done = run.history[-1].epoch if run.history else 0
        self.run_bar.show_progress(done, config.epochs, "epoch %v / %m")
        self.runStarted.emit(run)

    def _on_step(self, info: StepInfo) -> None:
        self.curves.add_step(info)
        phase = self.session.phase
        if phase in (PanelState.TRAINING, PanelState.PAUSED):
            self.run_bar.show_step(info, paused=phase == PanelState.PAUSED)

    def _on_epoch(self, snapshot: EpochSnapshot) -> None:
        run = self.session.run
        if snapshot.info is not None:
            self.curves.add_epoch(snapshot.info)
            epochs = run.config.epochs if run is not None else snapshot.info.epochs
            self.run_bar.show_progress(snapshot.info.epoch, epochs, "epoch %v / %m")
        self.epochShown.emit(snapshot)

    def _on_run_ended(self, result: TrainResult | None) -> None:
        self.runEnded.emit(result)

    def _offer_resume(self, run: InterruptedRun) -> None:
        """A run the last window left without ending (killed, crashed): offer to resume it."""
        self._offered = run
        self._banner.show_notice(
            f"A fine-tune did not end: {run.name}, after {counted(run.epochs_completed, 'epoch')}."
            " Resume continues it from its checkpoint; ✕ sets it aside.",
            ("Resume", self._resume_offered),
        )

    def _resume_offered(self) -> None:
        self._offered = None
        self.session.resume_interrupted()

    def _dismissed(self) -> None:
        if self._offered is not None:
            self._offered = None
            self.session.set_aside_interrupted()

    def _update_controls(self) -> None:
        session = self.session
        running = session.phase.running
        has_folder = session.folder is not None
        self.folder_row.set_usable(choose=not running, rescan=not running and has_folder)
        paths = session.run_paths
        resumable = paths is not None and paths.checkpoint.is_file()
        self.run_bar.show_state(session.phase, can_start=session.can_start(), resumable=resumable)

    def _toggle_pause(self) -> None:
        if self.session.phase == PanelState.PAUSED:
            self.session.continue_run()
        else:
            self.session.pause()

    def _ask_save(self) -> None:
        folder = self.session.folder
        suggested = f"{folder.name if folder else 'finetuned'}.safetensors"
        path, _ = QFileDialog.getSaveFileName(
            self, "Save Model As", str(Path.home() / suggested), "ViT Studio models (*.safetensors)"
        )
        if path:
            self.session.save_model_as(path)

    # --- drag and drop --------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if any(url.isLocalFile() and Path(url.toLocalFile()).is_dir() for url in urls):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        folders = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        folders = [f for f in folders if f.is_dir()]
        if folders:
            event.acceptProposedAction()
            self.session.choose_folder(folders[0])
