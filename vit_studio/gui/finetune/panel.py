"""The fine-tune panel: choose a folder, check its report, adjust the settings, train, keep.

Pages follow the flow: Data (scan report), Settings (defaults from the data), Training (live
curves and the per-epoch views), Result (accuracy per class, Save As, Open in Explorer). The
controls under the pages start, pause, cancel and resume runs. All work happens in the
`TrainingClient`'s thread; this widget only reacts to its signals.

Each run writes into a folder of its own under `runs_dir` (model, resumable checkpoint, metrics),
so a cancelled or crashed run can be resumed, and a finished one saved elsewhere.
"""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from vit_studio.engine.checkpoints import CheckpointInfo
from vit_studio.engine.text import counted, elapsed_text
from vit_studio.engine.training import RunStatus, StepInfo, TrainPaths, TrainResult
from vit_studio.engine.training.pipeline import RunRequest
from vit_studio.engine.training.settings import FINETUNE
from vit_studio.gui.finetune.curves import TrainingCurves
from vit_studio.gui.finetune.epoch_scrubber import EpochScrubber, scrolled_page
from vit_studio.gui.finetune.folder_row import FolderRow
from vit_studio.gui.finetune.results import ResultsView
from vit_studio.gui.finetune.run_bar import RunBar
from vit_studio.gui.finetune.scan_report import ScanReport
from vit_studio.gui.finetune.settings_form import SettingsForm
from vit_studio.gui.finetune.snapshots import EpochSnapshot
from vit_studio.gui.finetune.states import PanelState
from vit_studio.gui.finetune.training_client import (
    BASE,
    RUN,
    RunStarted,
    ScanResult,
    TrainingClient,
)
from vit_studio.gui.widgets.banner import Banner


class FinetunePanel(QWidget):
    """Fine-tuning from a folder to a model open in the explorer.

    Signals: `stateChanged(state)`; `scanned(ScanResult)`; `runEnded(result)` (a TrainResult, or
    None when cancelled before training began); `modelSaved(path)`; `openInExplorer(path)`;
    `errorShown(message)`; `readyChanged(bool)` when starting becomes possible or not.
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
        self._runs_dir = Path(runs_dir)
        self._device = device
        self._state = PanelState.IDLE
        self._folder: Path | None = None
        self._scan_result: ScanResult | None = None
        self._out: Path | None = None  # the current run's model file
        self._run: RunStarted | None = None
        self._result: TrainResult | None = None
        self._saved: Path | None = None
        self._scrubbed: Path | None = None  # the model of the run whose epochs the scrubber shows
        self._continuing = False  # the run being launched resumes the one the scrubber shows
        self._stopped = False
        self._ready = False
        self._epochs = 1  # of the current run, for the progress bar

        self._client = TrainingClient(self, num_threads)
        self._build()
        self._connect()
        self.setAcceptDrops(True)
        self._set_state(PanelState.IDLE)

    # --- building -----------------------------------------------------------------------------

    def _build(self) -> None:
        self.folder_row = FolderRow()
        self.folder_row.folderChosen.connect(self.choose_folder)
        self.folder_row.rescanClicked.connect(self.rescan)

        self._banner = Banner()

        self.report = ScanReport()
        self.form = SettingsForm()
        form_scroll = QScrollArea()
        form_scroll.setWidgetResizable(True)
        form_scroll.setWidget(self.form)
        self.curves = TrainingCurves()
        self.scrubber = EpochScrubber()
        training_page = scrolled_page(self.curves, self.scrubber)
        self.results = ResultsView()
        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        self._pages: dict[str, QWidget] = {}
        for key, page, title, tip in (
            ("data", self.report, "1 Data", "What the folder holds for training"),
            ("settings", form_scroll, "2 Settings", "How the model is trained"),
            ("training", training_page, "3 Training", "Curves, and the model after each epoch"),
            ("result", self.results, "4 Result", "Accuracy per class; save and open the model"),
        ):
            self._pages[key] = page
            index = self.pages.addTab(page, title)
            self.pages.setTabToolTip(index, tip)

        self.run_bar = RunBar()
        self.run_bar.startClicked.connect(self.start)
        self.run_bar.pauseClicked.connect(self._toggle_pause)
        self.run_bar.cancelClicked.connect(self.cancel)
        self.run_bar.resumeClicked.connect(self.resume_run)

        layout = QVBoxLayout(self)
        layout.addWidget(self.folder_row)
        layout.addWidget(self._banner)
        layout.addWidget(self.pages, 1)
        layout.addWidget(self.run_bar)

    def _connect(self) -> None:
        client = self._client
        client.scanned.connect(self._on_scanned)
        client.baseInspected.connect(self._on_base)
        client.stage.connect(self._on_stage)
        client.runStarted.connect(self._on_run_started)
        client.stepDone.connect(self._on_step)
        client.epochDone.connect(self._on_epoch)
        client.note.connect(self._on_note)
        client.runEnded.connect(self._on_run_ended)
        client.saved.connect(self._on_saved)
        client.failed.connect(self._on_failed)
        client.runningChanged.connect(lambda _running: self._update_controls())
        self.form.baseModelChosen.connect(self._client.inspect)
        self._client.headCountNeeded.connect(self.form.ask_head_count)
        self.form.valShareChanged.connect(lambda _share: self.rescan())
        self.form.changed.connect(self._update_controls)
        self.scrubber.epochChanged.connect(self.curves.mark_epoch)
        self.results.saveRequested.connect(self._ask_save)
        self.results.openRequested.connect(self.open_in_explorer)

    # --- the testable surface -------------------------------------------------------------------

    def state(self) -> PanelState:
        return self._state

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
        return TrainPaths.beside(self._out) if self._out is not None else None

    @property
    def result(self) -> TrainResult | None:
        return self._result

    @property
    def run_info(self) -> RunStarted | None:
        return self._run

    def show_page(self, page: str) -> None:
        """Bring a page to the front: "data", "settings", "training" or "result"."""
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
        """Where the next run trains: "auto", "cpu", "cuda" or "mps" (as the explorer's)."""
        self._device = device

    def choose_folder(self, folder: str | Path) -> None:
        """Scan `folder` and show its report (the Data page)."""
        if self._state.running:
            self._show_error("a run is going on; cancel it before choosing another folder")
            return
        self._folder = Path(folder)
        self.folder_row.show_folder(str(self._folder))
        self.show_page("data")
        self.rescan()

    def rescan(self) -> None:
        if self._folder is None or self._state.running:
            return
        self._banner.clear()
        self._scan_result = None
        self.form.set_data(None)
        self.report.show_scanning(self._folder, 0, 0)
        self._set_state(PanelState.SCANNING)
        self._client.scan(self._folder, self.form.val_share_value())

    def can_start(self) -> bool:
        scan = self._scan_result
        ready = scan is not None and scan.scan is not None
        return ready and self.form.values() is not None and not self._state.running

    def start(self) -> None:
        """Start a new run with the form's settings."""
        if not self.can_start():
            self._show_error("choose a usable folder and a base model before starting")
            return
        assert self._folder is not None
        values = self.form.values() or {}
        stamp = time.strftime("%Y%m%d-%H%M%S")
        name = self._folder.name or "model"
        self._out = self._runs_dir / f"{name}-{stamp}" / f"{name}.safetensors"
        settings = values | {"device": self._device}
        request = RunRequest(FINETUNE, self._folder, self._out, settings, self.form.base_path(),
                             base_num_heads=self.form.base_num_heads())  # fmt: skip
        self._launch(request, epochs=values.get("epochs", 1))

    def resume_run(self) -> None:
        """Continue the current run from its last checkpoint."""
        paths = self.run_paths
        if self._state.running:
            return
        if paths is None or not paths.checkpoint.is_file():
            self._show_error("this run has no checkpoint yet; start it again instead")
            return
        self._launch(self._resume_request(self._folder, paths.model))

    def resume_checkpoint(self, checkpoint: str | Path) -> None:
        """Continue any run from its M.checkpoint.pt (its folder comes from the checkpoint)."""
        if self._state.running:
            self._show_error("a run is going on; cancel it before resuming another")
            return
        self._out = TrainPaths.of_checkpoint(checkpoint).model
        self._folder = None
        self.folder_row.show_folder(f"the folder of {Path(checkpoint).name}", str(checkpoint))
        self._launch(self._resume_request(None, self._out))

    def pause(self) -> None:
        if self._state == PanelState.TRAINING:
            self._client.pause()
            self._set_state(PanelState.PAUSED)

    def continue_run(self) -> None:
        if self._state == PanelState.PAUSED:
            self._client.resume()
            self._set_state(PanelState.TRAINING)

    def cancel(self) -> None:
        if self._state in (PanelState.PREPARING, PanelState.TRAINING, PanelState.PAUSED):
            self._client.cancel()
            self._set_state(PanelState.STOPPING)

    def model_path(self) -> Path | None:
        """The run's kept model, once it exists."""
        paths = self.run_paths
        return paths.model if paths is not None and paths.model.is_file() else None

    def save_model_as(self, target: str | Path) -> None:
        source = self.model_path()
        if source is None:
            self._show_error("no model to save yet: the run has not finished an epoch")
            return
        self._client.save_copy(source, Path(target))

    def open_in_explorer(self) -> None:
        """Switch the explorer to the fine-tuned model (the saved copy, if there is one)."""
        path = self._saved if self._saved is not None else self.model_path()
        if path is None:
            self._show_error("no model to open yet: the run has not finished an epoch")
            return
        self.openInExplorer.emit(path)

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Cancel any run (its last checkpoint stays) and stop the worker thread."""
        if self._stopped:
            return True
        self._stopped = self._client.stop(timeout_ms)
        return self._stopped

    # --- worker results -------------------------------------------------------------------------

    def _on_scanned(self, result: ScanResult) -> None:
        if self._state.running:
            return  # a run's own scan comes with runStarted
        self._scan_result = result
        if result.scan is None:
            self.report.show_problem(
                result.folder, result.problem or "", result.found, result.short_classes
            )
            self.form.set_data(None)
            self._set_state(PanelState.BLOCKED)
        else:
            self.report.show_scan(result.scan)
            self.form.set_data(result.scan)
            self._set_state(PanelState.READY)
        self.scanned.emit(result)

    def _on_base(self, info: CheckpointInfo) -> None:
        self.form.set_base(info)

    def _on_stage(self, what: str, done: int, total: int) -> None:
        self.run_bar.show_progress(done, total, f"{what}: %v / %m")
        if self._state == PanelState.SCANNING and self._folder is not None:
            self.report.show_scanning(self._folder, done, total)

    def _on_run_started(self, run: RunStarted) -> None:
        self._run = run
        config = run.config
        self.report.show_scan(run.scan)
        self.curves.reset(config.epochs, run.history)
        self.curves.set_baseline(run.pixel_baseline)
        self.scrubber.start(
            run.class_names, run.validation, run.probe, continuing=self._continuing
        )
        self._epochs = config.epochs
        done = run.history[-1].epoch if run.history else 0
        self.run_bar.show_progress(done, config.epochs, "epoch %v / %m")
        if run.skipped:
            self._banner.show_notice(
                f"{counted(len(run.skipped), 'file')} left out: unreadable since the scan "
                f"(first: {run.skipped[0].path.name}: {run.skipped[0].reason})"
            )
        if self._state == PanelState.PREPARING:
            self._set_state(PanelState.TRAINING)
        self.runStarted.emit(run)

    def _on_step(self, info: StepInfo) -> None:
        self.curves.add_step(info)
        if self._state in (PanelState.TRAINING, PanelState.PAUSED):
            self.run_bar.show_step(info, paused=self._state == PanelState.PAUSED)

    def _on_epoch(self, snapshot: EpochSnapshot) -> None:
        if snapshot.info is not None:
            self.curves.add_epoch(snapshot.info)
            self.run_bar.show_progress(snapshot.info.epoch, self._epochs, "epoch %v / %m")
        self.scrubber.add_snapshot(snapshot)
        self.epochShown.emit(snapshot)

    def _on_note(self, message: str) -> None:
        self.run_bar.set_status(message)

    def _on_run_ended(self, result: TrainResult | None) -> None:
        self._result = result
        if result is None:
            self.run_bar.set_status("Cancelled before training began; nothing was written")
            usable = self._scan_result is not None and self._scan_result.scan is not None
            self._set_state(PanelState.READY if usable else PanelState.IDLE)
            self.runEnded.emit(None)
            return
        run = self._run
        names = run.class_names if run is not None else ()
        command = run.command if run is not None else ""
        model = self.model_path()
        where = f"Run files: {model.parent}" if model is not None else "No model was written."
        baseline = run.pixel_baseline if run is not None else None
        self.results.show_result(result, names, command, where, baseline)
        self.results.set_model_available(model is not None)
        completed = result.status == RunStatus.COMPLETED
        self.run_bar.set_status(
            f"Run {result.status.outcome} after {counted(result.epochs_completed, 'epoch')} in "
            f"{elapsed_text(result.seconds)}"
        )
        self._set_state(PanelState.FINISHED if completed else PanelState.CANCELLED)
        if completed:
            self.show_page("result")
        self.runEnded.emit(result)

    def _on_saved(self, path: Path) -> None:
        self._saved = path
        self._banner.show_notice(f"Saved the model as {path}")
        self.modelSaved.emit(path)

    def _on_failed(self, kind: str, message: str) -> None:
        if kind == RUN:
            self._set_state(PanelState.FAILED)
            self.results.set_model_available(self.model_path() is not None)
        elif kind == BASE:
            self.form.set_base(None)
        self._show_error(message)

    # --- controls -------------------------------------------------------------------------------

    def _resume_request(self, folder: Path | None, model: Path) -> RunRequest:
        """Continue the run of `model` (in `folder`, or the one its checkpoint names)."""
        return RunRequest(FINETUNE, folder, model, {"device": self._device}, resume=True)

    def _launch(self, request: RunRequest, epochs: int = 1) -> None:
        self._banner.clear()
        self._run = None
        self._result = None
        self._saved = None
        self.curves.reset(epochs)
        # Resuming the run on screen keeps its epochs, so the slider spans the whole run.
        run = request.out.resolve()
        self._continuing = request.resume and run == self._scrubbed
        if not self._continuing:
            self.scrubber.clear()
        self._scrubbed = run
        self.results.clear()
        self.run_bar.set_status("Preparing: checking and loading the images…")
        self._set_state(PanelState.PREPARING)
        self.show_page("training")
        self._client.start(request)

    def _toggle_pause(self) -> None:
        if self._state == PanelState.PAUSED:
            self.continue_run()
        else:
            self.pause()

    def _ask_save(self) -> None:
        suggested = f"{self._folder.name if self._folder else 'finetuned'}.safetensors"
        path, _ = QFileDialog.getSaveFileName(
            self, "Save Model As", str(Path.home() / suggested), "ViT Studio models (*.safetensors)"
        )
        if path:
            self.save_model_as(path)

    def _set_state(self, state: PanelState) -> None:
        self._state = state
        self.form.set_locked(state.running)
        self._update_controls()
        self.stateChanged.emit(state)

    def _update_controls(self) -> None:
        state, running = self._state, self._state.running
        has_folder = self._folder is not None
        self.folder_row.set_usable(choose=not running, rescan=not running and has_folder)
        paths = self.run_paths
        resumable = paths is not None and paths.checkpoint.is_file()
        ready = self.can_start()
        self.run_bar.show_state(state, can_start=ready, resumable=resumable)
        if ready != self._ready:
            self._ready = ready
            self.readyChanged.emit(ready)

    def _show_error(self, message: str) -> None:
        self._banner.show_error(message)
        self.errorShown.emit(message)

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
            self.choose_folder(folders[0])
