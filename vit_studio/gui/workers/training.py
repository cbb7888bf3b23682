"""The fine-tune panel's thread: scans folders, inspects base models, trains, saves copies.

A run goes through the engine's training pipeline (`engine.training.pipeline`), exactly as
`vit-studio finetune` does; the engine's plain callbacks become this client's signals. Pause and
cancel go through a `RunControl` the engine polls every step. Once a new run has chosen where it
starts, and between epochs, the thread also takes an `EpochSnapshot` of the live model for the
panel's per-epoch views. Failures come back as one line that says whether the last checkpoint is
there to resume from. `bind_session` connects a `FinetuneSession` to a client: the session's
requests go to the thread, the thread's answers to the session.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from vit_studio.engine.checkpoints import CheckpointInfo, HeadCountNeeded, inspect_checkpoint
from vit_studio.engine.data import UntrainableFolder
from vit_studio.engine.errors import Cancelled, StudioError, describe_failure
from vit_studio.engine.model import load_studio_model, save_model, with_meta
from vit_studio.engine.training import EpochInfo, EvalResult, StepInfo, TrainCallbacks
from vit_studio.engine.training.outputs import InterruptedRun, interrupted_runs, set_aside
from vit_studio.engine.training.pipeline import (
    TRAINING_MEMORY_FIX,
    PrepareCallbacks,
    PreparedRun,
    RunRequest,
    prepare_run,
    run,
    scan_training_folder,
)
from vit_studio.gui.cpu import default_num_threads, torch_setup
from vit_studio.gui.state.finetune import FinetuneSession
from vit_studio.gui.state.finetune_phases import Job
from vit_studio.gui.state.finetune_results import EpochSnapshot, Probe, RunStarted, ScanResult
from vit_studio.gui.state.results import HeadCountRequest
from vit_studio.gui.workers.run_control import Pacer, RunControl
from vit_studio.gui.workers.snapshots import SnapshotTaker, probe_image, validation_set
from vit_studio.gui.workers.thread import JobContext, WorkerThread

# The newest scan and base inspection win; runs and saves go one at a time.
REPORTS_PER_EPOCH = 10  # step reports the panel gets per epoch (the engine also reports every 2 s)


class TrainingClient(QObject):
    """The GUI's handle on the fine-tune thread. Signals carry results of current jobs only;
    `runningChanged(True)` comes with `start`, `runningChanged(False)` once the run has really
    ended."""

    scanned = Signal(ScanResult)
    baseInspected = Signal(CheckpointInfo)
    headCountNeeded = Signal(HeadCountRequest)  # the base model's file does not say
    stage = Signal(str, int, int)  # what, done, total (checking and loading images)
    runStarted = Signal(RunStarted)
    stepDone = Signal(StepInfo)
    epochDone = Signal(EpochSnapshot)
    note = Signal(str)
    runEnded = Signal(object)  # TrainResult, or None when cancelled before training began
    saved = Signal(Path)
    interruptedFound = Signal(object)  # list of InterruptedRun, newest first
    failed = Signal(object, str)  # the Job that failed, one-line message
    runningChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None, num_threads: int | None = None) -> None:
        super().__init__(parent)
        threads = num_threads or default_num_threads()
        self._thread = WorkerThread("fine-tune", self, setup=torch_setup(threads))
        self._control = RunControl()
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    @property
    def busy(self) -> bool:
        """Whether the thread has work queued or running."""
        return self._thread.busy

    @property
    def paused(self) -> bool:
        return self._control.paused

    @property
    def control(self) -> RunControl:
        """The current run's pause and cancel switches (and whether the trainer waits)."""
        return self._control

    def scan(self, folder: Path, val_share: float) -> None:
        """Scan `folder` (superseding any scan not yet reported)."""
        folder = Path(folder)
        self._thread.submit(
            Job.SCAN,
            lambda context: self._scan(context, folder, val_share),
            doing=f"scanning {folder}",
            done=self.scanned.emit,
            failed=self._failed(Job.SCAN),
        )

    def inspect(self, path: Path, num_heads: int | None = None) -> None:
        """Read the architecture of a base model without loading its weights; a
        `headCountNeeded` instead when its file does not say how many heads it has."""
        path = Path(path)
        self._thread.submit(
            Job.BASE,
            lambda _context: _inspect(path, num_heads),
            doing=f"reading {path.name}",
            done=self._inspected,
            failed=self._failed(Job.BASE),
        )

    def _inspected(self, result: CheckpointInfo | HeadCountRequest) -> None:
        if isinstance(result, HeadCountRequest):
            self.headCountNeeded.emit(result)
        else:
            self.baseInspected.emit(result)

    def start(self, request: RunRequest) -> None:
        """Start (or resume) the run `request` asks for; one run at a time."""
        if self._running:
            raise RuntimeError("a run is going; cancel it first")
        self._control.reset()
        self._running = True
        self.runningChanged.emit(True)
        self._thread.submit(
            Job.RUN,
            lambda context: self._train(context, request),
            doing="training",
            done=self.runEnded.emit,
            cancelled=lambda: self.runEnded.emit(None),
            failed=self._failed(Job.RUN),
            ended=self._run_ended,
            memory_fix=TRAINING_MEMORY_FIX,
        )

    def pause(self) -> None:
        self._control.pause()

    def resume(self) -> None:
        self._control.resume()

    def cancel(self) -> None:
        """Stop the run before its next step; the files of the last finished epoch stay."""
        self._control.cancel()

    def save_copy(self, source: Path, target: Path) -> None:
        """The run's model under a new name (its metadata name too), written atomically."""
        source, target = Path(source), Path(target)

        def copy(_context: JobContext) -> Path:
            save_model(with_meta(load_studio_model(source), name=target.stem), target)
            return target

        self._thread.submit(
            Job.SAVE,
            copy,
            doing=f"saving {target}",
            done=self.saved.emit,
            failed=self._failed(Job.SAVE),
        )

    def find_interrupted(self, runs_dir: Path) -> None:
        """The runs in `runs_dir` that a killed window left without ending."""
        self._thread.submit(
            Job.FIND,
            lambda _context: interrupted_runs(runs_dir),
            doing=f"looking for interrupted runs in {runs_dir}",
            done=self.interruptedFound.emit,
            failed=self._failed(Job.FIND),
        )

    def set_aside(self, run: InterruptedRun) -> None:
        """Mark `run` as ended on purpose, so that it is not offered again."""
        self._thread.submit(
            Job.SAVE,
            lambda _context: set_aside(run),
            doing=f"setting {run.name} aside",
            failed=self._failed(Job.SAVE),
        )

    def stop(self, timeout_ms: int = 5000) -> bool:
        """Cancel whatever runs and end the thread; True if it ended within `timeout_ms`."""
        self._control.cancel()
        return self._thread.stop(timeout_ms)

    # --- in the worker thread -------------------------------------------------------------------

    def _scan(self, context: JobContext, folder: Path, val_share: float) -> ScanResult:
        try:
            scan = scan_training_folder(
                folder,
                val_share,
                progress=lambda d, t: context.report(self.stage.emit, "checking images", d, t),
                cancel=context.cancelled,
            )
        except UntrainableFolder as exc:
            return ScanResult(folder, None, str(exc), exc.scan, exc.short_classes)
        except StudioError as exc:
            return ScanResult(folder, None, str(exc))
        return ScanResult(folder, scan)

    def _train(self, context: JobContext, request: RunRequest):
        control = self._control

        def cancelled() -> bool:
            return control.cancelled or context.cancelled()

        prepared = prepare_run(
            request,
            PrepareCallbacks(progress=lambda *stage: context.report(self.stage.emit, *stage)),
            cancel=cancelled,
        )
        model, config = prepared.model, prepared.config
        context.report(self.note.emit, f"Images: {prepared.cache_note}")
        probe, probe_input = probe_image(prepared.val_images or prepared.train_images, model)
        context.report(self.runStarted.emit, _run_started(prepared, probe))
        images = len(prepared.train_images.labels)
        taker = SnapshotTaker(model, prepared.val_images, probe_input, config, images, cancelled)
        history = prepared.checkpoint.history if prepared.checkpoint is not None else ()
        if history:  # a resumed run: the model as it was after its last epoch
            context.report(self.epochDone.emit, taker.take(len(history), history[-1]))
        pacer = Pacer(min(config.batch_size, images), len(history), control.paused_seconds)
        validated: list[EvalResult] = []  # this epoch's, from on_validated

        def on_start(_start: object) -> None:
            # A new run, its starting head chosen (and validated): epoch 0.
            validation = validated.pop() if validated else None
            with contextlib.suppress(Cancelled):
                context.report(self.epochDone.emit, taker.take(0, None, validation))

        def on_epoch(info: EpochInfo) -> None:
            validation = validated.pop() if validated else None
            # Cancelled while scoring: no snapshot; the engine stops before its next step.
            with contextlib.suppress(Cancelled):
                context.report(self.epochDone.emit, taker.take(info.epoch, info, validation))

        callbacks = TrainCallbacks(
            on_step=lambda info: context.report(self.stepDone.emit, pacer.adjust(info)),
            on_validated=validated.append,
            on_epoch=on_epoch,
            on_note=lambda message: context.report(self.note.emit, message),
            on_start=on_start,
        )
        try:
            return run(prepared, callbacks, control.poll, reports_per_epoch=REPORTS_PER_EPOCH)
        except Exception as exc:
            checkpoint = prepared.resumable_checkpoint()
            if checkpoint is None:
                raise
            message = describe_failure(exc, "training", memory_fix=TRAINING_MEMORY_FIX)
            raise StudioError(
                f"{message} — the last checkpoint ({checkpoint.name}) is kept: Resume continues it"
            ) from exc

    # --- on the GUI thread ----------------------------------------------------------------------

    def _failed(self, job: Job):
        return lambda message: self.failed.emit(job, message)

    def _run_ended(self) -> None:
        self._running = False
        self.runningChanged.emit(False)


def _inspect(path: Path, num_heads: int | None) -> CheckpointInfo | HeadCountRequest:
    try:
        return inspect_checkpoint(path, num_heads=num_heads)
    except HeadCountNeeded as needed:
        return HeadCountRequest(path, needed.hidden_dim, needed.choices, str(needed))


def _run_started(prepared: PreparedRun, probe: Probe) -> RunStarted:
    names = prepared.model.meta.class_names
    val = prepared.val_images
    return RunStarted(
        scan=prepared.scan,
        config=prepared.config,
        paths=prepared.paths,
        class_names=names,
        train_images=len(prepared.train_images.labels),
        validation=validation_set(names, val) if val is not None else None,
        probe=probe,
        history=prepared.checkpoint.history if prepared.checkpoint is not None else (),
        skipped=prepared.skipped,
        command=prepared.command_line,
        pixel_baseline=prepared.pixel_baseline(),
        base_model=Path(base) if (base := prepared.provenance["data"].get("base_model")) else None,
        explanation=tuple(prepared.plan.explain()) if prepared.plan is not None else (),
    )


def bind_session(session: FinetuneSession, client: TrainingClient) -> None:
    """The session's requests to the thread, the thread's answers to the session."""
    session.scan_requested.connect(client.scan)
    session.inspect_requested.connect(client.inspect)
    session.run_requested.connect(client.start)
    session.pause_requested.connect(client.pause)
    session.continue_requested.connect(client.resume)
    session.cancel_requested.connect(client.cancel)
    session.save_requested.connect(client.save_copy)
    session.interrupted_requested.connect(client.find_interrupted)
    session.set_aside_requested.connect(client.set_aside)
    client.scanned.connect(session.scanned)
    client.baseInspected.connect(session.inspected)
    client.headCountNeeded.connect(session.head_count_asked)
    client.stage.connect(session.stage)
    client.runStarted.connect(session.started)
    client.stepDone.connect(session.step_done)
    client.epochDone.connect(session.epoch_done)
    client.note.connect(session.noted)
    client.runEnded.connect(session.ended)
    client.saved.connect(session.model_saved)
    client.failed.connect(session.failed)
    client.interruptedFound.connect(session.interrupted_runs_found)
    client.runningChanged.connect(session.run_thread_busy)
