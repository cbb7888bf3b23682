"""`FinetuneSession`: what the fine-tune panel has chosen, what runs, and what the run has shown.

It holds the folder and its scan, the base model, the settings the user set and the plan they
give (`plan_finetune`, the CLI's rule), the phase of the run (`PanelState`), the run's start,
its step reports and epoch snapshots, how it ended, and the epoch the user scrubbed to. Every
change is an event (psygnal, no Qt). What needs the training thread is an event too (`*_requested`),
which `gui.workers.training.bind_session` passes to the thread, whose answers come back through
the methods under "What the worker answers". The panel's widgets follow the events and call the
methods; a script or a test can drive a whole fine-tune without a window.

Each run writes into a folder of its own under `runs_dir` (model, resumable checkpoint, metrics),
so a cancelled or crashed run can be resumed and a finished one saved elsewhere; a copy is never
written over the base model it was fine-tuned from.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from psygnal import Signal

from vit_studio.engine.errors import StudioError
from vit_studio.engine.text import counted, elapsed_text
from vit_studio.gui.state.finetune_phases import Job, PanelState
from vit_studio.gui.state.finetune_results import same_images
from vit_studio.gui.state.results import HeadCountRequest

if TYPE_CHECKING:
    from vit_studio.engine.checkpoints import CheckpointInfo
    from vit_studio.engine.training import StepInfo, TrainPaths, TrainResult
    from vit_studio.engine.training.outputs import InterruptedRun
    from vit_studio.engine.training.pipeline import RunRequest
    from vit_studio.engine.training.plan import RunPlan
    from vit_studio.gui.state.finetune_results import EpochSnapshot, RunStarted, ScanResult

# The training pipeline is imported by the methods that plan or start a run: it brings torch, and
# the window (whose Fine-tune tab this session backs) opens before torch has loaded.


class FinetuneSession:
    """See the module."""

    # What is chosen.
    folder_changed = Signal(object, str)  # the folder (None: a checkpoint's own), its text
    base_changed = Signal(object)  # the base model's path (None: none yet)
    base_inspected = Signal(object)  # its CheckpointInfo (None: could not be read)
    plan_changed = Signal(object)  # RunPlan, or None while the folder or base is missing
    head_count_needed = Signal(HeadCountRequest)  # ask the user, then `set_base_model`
    # What runs.
    phase_changed = Signal(PanelState)
    ready_changed = Signal(bool)
    scan_changed = Signal(object)  # ScanResult; None: scanning
    stage_changed = Signal(str, int, int)  # what, done, total (checking and loading images)
    status_changed = Signal(str)
    error_changed = Signal(str)  # '' when cleared
    notice_changed = Signal(str)
    # What the run has shown.
    run_started = Signal(object)  # RunStarted
    step_added = Signal(object)  # StepInfo
    epoch_added = Signal(object)  # EpochSnapshot
    run_ended = Signal(object)  # TrainResult, or None when cancelled before training began
    saved = Signal(Path)
    scrubbed = Signal(int)  # the epoch the user looks at
    # What the training thread is asked for.
    scan_requested = Signal(Path, float)
    inspect_requested = Signal(Path, object)  # path, head count (int or None)
    run_requested = Signal(object)  # RunRequest
    pause_requested = Signal()
    continue_requested = Signal()
    cancel_requested = Signal()
    save_requested = Signal(Path, Path)  # the run's model, where to save it
    interrupted_requested = Signal(Path)  # look for interrupted runs in this runs folder
    set_aside_requested = Signal(object)  # an InterruptedRun the user chose not to resume
    interrupted_found = Signal(object)  # the newest InterruptedRun, to offer for resuming
    open_requested = Signal(Path)  # a fine-tuned model to open in the explorer

    def __init__(self, runs_dir: Path, *, device: str = "auto") -> None:
        self.runs_dir = Path(runs_dir)
        self.device = device
        self.phase = PanelState.IDLE
        self.folder: Path | None = None
        self.scan: ScanResult | None = None
        self.base_path: Path | None = None
        self.base_info: CheckpointInfo | None = None
        self._base_heads: dict[Path, int] = {}  # head counts the user gave, by model
        self.chosen: dict[str, Any] = {}  # the settings the user set; the others follow the data
        self.plan: RunPlan | None = None
        self.default_reasons: dict[str, str] = {}  # the rule of each setting left to the data
        self.plan_error = ""
        self.run: RunStarted | None = None
        self.steps: list[StepInfo] = []
        self.snapshots: list[EpochSnapshot] = []
        self.result: TrainResult | None = None
        self.saved_path: Path | None = None
        self.scrubbed_epoch: int | None = None
        self.interrupted: list[InterruptedRun] = []  # runs a killed window left, newest first
        self.status = ""
        self.error = ""
        self._out: Path | None = None  # the current run's model file
        self._previous_run: RunStarted | None = None  # the one before a resume
        # The thread still holds a run whose end it has reported: no new one until it lets go.
        self._thread_busy = False
        self._ready = False

    # --- what follows from it -------------------------------------------------------------------

    @property
    def base_num_heads(self) -> int | None:
        """The head count the user gave for the base model, if its file does not record it."""
        return None if self.base_path is None else self._base_heads.get(self.base_path)

    @property
    def val_share(self) -> float:
        from vit_studio.engine.training.plan import DEFAULT_VAL_SHARE

        return float(self.chosen.get("val_share", DEFAULT_VAL_SHARE))

    @property
    def run_paths(self) -> TrainPaths | None:
        """Where the current (or last) run writes."""
        from vit_studio.engine.training import TrainPaths

        return TrainPaths.beside(self._out) if self._out is not None else None

    @property
    def model_path(self) -> Path | None:
        """The run's kept model, once it exists."""
        paths = self.run_paths
        return paths.model if paths is not None and paths.model.is_file() else None

    @property
    def resumable(self) -> bool:
        paths = self.run_paths
        return paths is not None and paths.checkpoint.is_file() and not self.phase.running

    def can_start(self) -> bool:
        scan = self.scan
        usable = scan is not None and scan.scan is not None
        idle = not self.phase.running and not self._thread_busy
        return usable and self.plan is not None and idle

    def snapshot(self, epoch: int | None) -> EpochSnapshot | None:
        return next((s for s in self.snapshots if s.epoch == epoch), None)

    # --- choosing -------------------------------------------------------------------------------

    def set_device(self, device: str) -> None:
        """Where the next run trains: "auto", "cpu", "cuda" or "mps" (as the explorer's)."""
        self.device = device

    def choose_folder(self, folder: str | Path) -> None:
        """Scan `folder` and show its report."""
        if self.phase.running:
            self._show_error("a run is going on; cancel it before choosing another folder")
            return
        self.folder = Path(folder)
        self.folder_changed.emit(self.folder, str(self.folder))
        self.rescan()

    def rescan(self) -> None:
        if self.folder is None or self.phase.running:
            return
        self._clear_error()
        self.scan = None
        self.scan_changed.emit(None)
        self._replan()
        self._set_phase(PanelState.SCANNING)
        self.scan_requested.emit(self.folder, self.val_share)

    def set_base_model(self, path: Path, num_heads: int | None = None) -> None:
        """Start from `path` (`num_heads`: the user's count, for a file that does not record
        it); its architecture is read before the settings follow it."""
        path = Path(path)
        if num_heads is not None:
            self._base_heads[path] = num_heads
        self.base_path = path
        self.base_info = None
        self.base_changed.emit(path)
        self._replan()
        self.inspect_requested.emit(path, self._base_heads.get(path))

    def set_setting(self, name: str, value: Any) -> None:
        """The user set a setting: it is kept as given, the others follow it and the data."""
        if name == "val_share":
            if value == self.val_share:
                return
            self.chosen[name] = value
            self.rescan()
            return
        self.chosen[name] = value
        self._replan()

    def reset_settings(self) -> None:
        """Every setting follows the data again."""
        from vit_studio.engine.training.plan import DEFAULT_VAL_SHARE

        share_changed = self.val_share != DEFAULT_VAL_SHARE
        self.chosen.clear()
        if share_changed:
            self.rescan()
        else:
            self._replan()

    def scrub_to(self, epoch: int) -> None:
        """Look at the model after `epoch` (0: as the run started)."""
        if self.snapshot(epoch) is not None and epoch != self.scrubbed_epoch:
            self.scrubbed_epoch = epoch
            self.scrubbed.emit(epoch)

    def look_for_interrupted(self) -> None:
        """Find the runs a killed window (or a crash) left without ending, to offer them."""
        self.interrupted_requested.emit(self.runs_dir)

    def resume_interrupted(self) -> None:
        """Resume the newest interrupted run."""
        if self.interrupted:
            self.resume_checkpoint(self.interrupted.pop(0).checkpoint)

    def set_aside_interrupted(self) -> None:
        """Do not resume the newest interrupted run, and do not offer it again."""
        if self.interrupted:
            self.set_aside_requested.emit(self.interrupted.pop(0))

    # --- running --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start a new run with the plan's settings, into a new folder under `runs_dir`."""
        from vit_studio.engine.training.pipeline import RunRequest
        from vit_studio.engine.training.settings import FINETUNE

        if not self.can_start() or self.plan is None or self.folder is None:
            self._show_error("choose a usable folder and a base model before starting")
            return
        name = self.folder.name or "model"
        out = _new_run_folder(self.runs_dir, name) / f"{name}.safetensors"
        values = self.plan.values()
        settings = values | {"device": self.device}
        request = RunRequest(FINETUNE, self.folder, out, settings, self.base_path,
                             base_num_heads=self.base_num_heads)  # fmt: skip
        self._launch(request)

    def resume_run(self) -> None:
        """Continue the current run from its last checkpoint."""
        paths = self.run_paths
        if self.phase.running or self._thread_busy:
            return
        if paths is None or not paths.checkpoint.is_file():
            self._show_error("this run has no checkpoint yet; start it again instead")
            return
        self._launch(self._resume_request(self.folder, paths.model))

    def resume_checkpoint(self, checkpoint: str | Path) -> None:
        """Continue any run from its M.checkpoint.pt (its folder comes from the checkpoint)."""
        if self.phase.running or self._thread_busy:
            self._show_error("a run is going on; cancel it before resuming another")
            return
        from vit_studio.engine.training import TrainPaths

        model = TrainPaths.of_checkpoint(checkpoint).model
        self.folder = None
        self.folder_changed.emit(None, f"the folder of {Path(checkpoint).name}")
        self._launch(self._resume_request(None, model))

    def pause(self) -> None:
        if self.phase == PanelState.TRAINING:
            self.pause_requested.emit()
            self._set_phase(PanelState.PAUSED)

    def continue_run(self) -> None:
        if self.phase == PanelState.PAUSED:
            self.continue_requested.emit()
            self._set_phase(PanelState.TRAINING)

    def cancel(self) -> None:
        if self.phase in (PanelState.PREPARING, PanelState.TRAINING, PanelState.PAUSED):
            self.cancel_requested.emit()
            self._set_phase(PanelState.STOPPING)

    def save_model_as(self, target: str | Path) -> None:
        """A copy of the run's model at `target` (the GUI asks before replacing a file; the
        model this run started from is never replaced)."""
        source, target = self.model_path, Path(target)
        if source is None:
            self._show_error("no model to save yet: the run has not finished an epoch")
            return
        if self._is_base_model(target):
            self._show_error(
                f"{target} is the model this run was fine-tuned from; save the fine-tuned model "
                "under another name"
            )
            return
        self.save_requested.emit(source, target)

    def open_in_explorer(self) -> None:
        """Switch the explorer to the fine-tuned model (the saved copy, if there is one)."""
        path = self.saved_path if self.saved_path is not None else self.model_path
        if path is None:
            self._show_error("no model to open yet: the run has not finished an epoch")
            return
        self.open_requested.emit(path)

    # --- what the worker answers ----------------------------------------------------------------

    def scanned(self, result: ScanResult) -> None:
        if self.phase.running:
            return  # a run's own scan comes with `started`
        self.scan = result
        self.scan_changed.emit(result)
        self._replan()
        self._set_phase(PanelState.BLOCKED if result.scan is None else PanelState.READY)

    def inspected(self, info: CheckpointInfo) -> None:
        self.base_info = info
        self.base_inspected.emit(info)
        self._replan()

    def head_count_asked(self, request: HeadCountRequest) -> None:
        self.head_count_needed.emit(request)

    def head_count_refused(self, request: HeadCountRequest) -> None:
        """The user did not give the head count: the base model stays unread."""
        self._show_error(request.message)

    def run_thread_busy(self, busy: bool) -> None:
        """Whether the training thread holds a run (it lets go just after reporting its end)."""
        self._thread_busy = busy
        self._update_ready()

    def interrupted_runs_found(self, runs: list[InterruptedRun]) -> None:
        self.interrupted = list(runs)
        if runs and not self.phase.running:
            self.interrupted_found.emit(runs[0])

    def stage(self, what: str, done: int, total: int) -> None:
        self.stage_changed.emit(what, done, total)

    def started(self, run: RunStarted) -> None:
        if self.snapshots and not same_images(self._previous_run, run):
            # A resumed run keeps the epochs shown only where they index the same images.
            self.snapshots = []
            self.scrubbed_epoch = None
        self.run = run
        if run.skipped:
            first = run.skipped[0]
            self.notice_changed.emit(
                f"{counted(len(run.skipped), 'file')} left out: unreadable since the scan "
                f"(first: {first.path.name}: {first.reason})"
            )
        self.run_started.emit(run)
        if self.phase == PanelState.PREPARING:
            self._set_phase(PanelState.TRAINING)

    def step_done(self, info: StepInfo) -> None:
        self.steps.append(info)
        self.step_added.emit(info)

    def epoch_done(self, snapshot: EpochSnapshot) -> None:
        # The newest epoch is shown until the user scrubs back.
        newest = self.snapshots[-1].epoch if self.snapshots else None
        following = self.scrubbed_epoch is None or self.scrubbed_epoch == newest
        # A resumed run retakes the epoch it resumes from; epochs after it were not kept.
        self.snapshots = [s for s in self.snapshots if s.epoch < snapshot.epoch] + [snapshot]
        self.epoch_added.emit(snapshot)
        if following or self.snapshot(self.scrubbed_epoch) is None:
            self.scrubbed_epoch = snapshot.epoch
            self.scrubbed.emit(snapshot.epoch)

    def noted(self, message: str) -> None:
        self._set_status(message)

    def ended(self, result: TrainResult | None) -> None:
        self.result = result
        if result is None:
            self._set_status("Cancelled before training began; nothing was written")
            usable = self.scan is not None and self.scan.scan is not None
            self._set_phase(PanelState.READY if usable else PanelState.IDLE)
            self.run_ended.emit(None)
            return
        self._set_status(
            f"Run {result.status.outcome} after {counted(result.epochs_completed, 'epoch')} in "
            f"{elapsed_text(result.seconds)}"
        )
        # A run cut short by Cancel or its time budget can be resumed; one that ran its course
        # or stopped improving is finished.
        from vit_studio.engine.training import RunStatus

        finished = result.status in (RunStatus.COMPLETED, RunStatus.EARLY_STOPPED)
        self._set_phase(PanelState.FINISHED if finished else PanelState.CANCELLED)
        self.run_ended.emit(result)

    def model_saved(self, path: Path) -> None:
        self.saved_path = path
        self.notice_changed.emit(f"Saved the model as {path}")
        self.saved.emit(path)

    def failed(self, job: Job, message: str) -> None:
        if job == Job.RUN:
            self._set_phase(PanelState.FAILED)
        elif job == Job.BASE:
            self.base_info = None
            self.base_inspected.emit(None)
            self._replan()
        self._show_error(message)

    # --- inside ---------------------------------------------------------------------------------

    def _is_base_model(self, target: Path) -> bool:
        run = self.run
        base = run.base_model if run is not None else self.base_path
        try:
            return base is not None and target.resolve() == Path(base).resolve()
        except OSError:
            return False

    def _resume_request(self, folder: Path | None, model: Path) -> RunRequest:
        from vit_studio.engine.training.pipeline import RunRequest
        from vit_studio.engine.training.settings import FINETUNE

        return RunRequest(FINETUNE, folder, model, {"device": self.device}, resume=True)

    def _launch(self, request: RunRequest) -> None:
        self._clear_error()
        # Resuming the run on screen keeps its epochs, so the scrubber spans the whole run.
        continuing = (
            request.resume
            and self._out is not None
            and (request.out.resolve() == self._out.resolve())
        )
        self._out = request.out
        self._previous_run = self.run
        self.run = None
        self.result = None
        self.saved_path = None
        self.steps = []
        if not continuing:
            self.snapshots = []
            self.scrubbed_epoch = None
        self._set_status("Preparing: checking and loading the images…")
        self._set_phase(PanelState.PREPARING)
        self.run_requested.emit(request)

    def _replan(self) -> None:
        from vit_studio.engine.training.plan import plan_finetune

        scan = self.scan.scan if self.scan is not None else None
        plan, error = None, ""
        if scan is not None and self.base_info is not None:
            arch = self.base_info.arch
            try:
                self.default_reasons = dict(plan_finetune(scan, arch).reasons)
                plan = plan_finetune(scan, arch, **self.chosen)
            except StudioError as exc:
                error = str(exc)
        self.plan, self.plan_error = plan, error
        self.plan_changed.emit(plan)
        self._update_ready()

    def _set_phase(self, phase: PanelState) -> None:
        self.phase = phase
        self.phase_changed.emit(phase)
        self._update_ready()

    def _update_ready(self) -> None:
        ready = self.can_start()
        if ready != self._ready:
            self._ready = ready
            self.ready_changed.emit(ready)

    def _set_status(self, text: str) -> None:
        self.status = text
        self.status_changed.emit(text)

    def _show_error(self, message: str) -> None:
        self.error = message
        self.error_changed.emit(message)

    def _clear_error(self) -> None:
        if self.error:
            self.error = ""
            self.error_changed.emit("")


def _new_run_folder(runs_dir: Path, name: str) -> Path:
    """A folder for a new run that no run has used: `name-YYYYmmdd-HHMMSS`, numbered when two
    runs start within one second, so that the second never replaces the first one's files."""
    stem = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder, number = runs_dir / stem, 1
    while folder.exists():
        number += 1
        folder = runs_dir / f"{stem}-{number}"
    return folder
