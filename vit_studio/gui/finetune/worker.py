"""The fine-tune worker: scans folders, trains in its own QThread, and the GUI's handle on it.

The worker runs the same engine path as `vit-studio finetune` (`engine.finetune` and
`training.train`); the engine's plain callbacks become signals here. `train` blocks the worker's
thread for the whole run, so pause and cancel cannot travel as queued signals: they go through a
`RunControl` that the GUI thread sets and the engine polls before every step. Pausing blocks the
training thread inside that poll until Continue or Cancel, so the GUI never waits. Failures come
back as one-line messages that say whether the last checkpoint is there to resume from.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from PySide6.QtCore import QObject, QThread, Signal, Slot

from vit_studio.engine.checkpoints import inspect_checkpoint, load_model
from vit_studio.engine.data import CacheCancelled, FolderScan, SkippedFile, UntrainableFolder
from vit_studio.engine.errors import StudioError
from vit_studio.engine.finetune import (
    FinetuneInputs,
    StageProgress,
    checkpoint_val_share,
    plan_finetune,
    prepare_inputs,
    resume_inputs,
    scan_training_folder,
)
from vit_studio.engine.model import load_studio_model, save_model, with_meta
from vit_studio.engine.training import (
    EpochInfo,
    EvalResult,
    EvaluationCancelled,
    StepInfo,
    TrainCallbacks,
    TrainCheckpoint,
    TrainConfig,
    TrainPaths,
    load_checkpoint,
    train,
)
from vit_studio.gui.cpu import default_num_threads
from vit_studio.gui.finetune.choices import FinetuneChoices
from vit_studio.gui.finetune.snapshots import (
    Probe,
    SnapshotTaker,
    ValidationSet,
    probe_image,
    validation_set,
)
from vit_studio.gui.workers import Ledger, describe_failure

log = logging.getLogger(__name__)

SCAN = "scan"
BASE = "base"
RUN = "run"
SAVE = "save"
REPORTS_PER_EPOCH = 10  # step reports the panel gets per epoch (the engine also reports every 2 s)


class RunControl:
    """Pause and cancel of the current run: set from the GUI thread, polled by the trainer."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._paused = False
        self._cancelled = False
        self._waiting = False
        self._paused_seconds = 0.0

    def reset(self) -> None:
        with self._condition:
            self._paused = self._cancelled = False
            self._paused_seconds = 0.0

    def pause(self) -> None:
        with self._condition:
            self._paused = True

    def resume(self) -> None:
        with self._condition:
            self._paused = False
            self._condition.notify_all()

    def cancel(self) -> None:
        with self._condition:
            self._cancelled = True
            self._condition.notify_all()

    @property
    def paused(self) -> bool:
        with self._condition:
            return self._paused

    @property
    def cancelled(self) -> bool:
        with self._condition:
            return self._cancelled

    @property
    def waiting(self) -> bool:
        """Whether the trainer is blocked in `poll` right now (paused between two steps)."""
        with self._condition:
            return self._waiting

    @property
    def paused_seconds(self) -> float:
        """Time the trainer has spent waiting in `poll` since `reset`."""
        with self._condition:
            return self._paused_seconds

    def poll(self) -> bool:
        """The engine's per-step check: waits while paused, then says whether to stop."""
        with self._condition:
            if self._paused and not self._cancelled:
                started = time.monotonic()
                self._waiting = True
                while self._paused and not self._cancelled:
                    self._condition.wait()
                self._waiting = False
                self._paused_seconds += time.monotonic() - started
            return self._cancelled


# --- what travels between threads ------------------------------------------------------------


@dataclass(frozen=True)
class ScanResult:
    """A folder's scan report, or the problem that blocks training on it (one line, with fix)
    and, where the folder could be read, what it holds all the same."""

    folder: Path
    scan: FolderScan | None  # None: training on the folder is blocked by `problem`
    problem: str | None = None
    found: FolderScan | None = None  # a blocked folder's classes, counts and skipped files
    short_classes: tuple[str, ...] = ()  # the blocked folder's classes with too few images


@dataclass(frozen=True)
class RunRequest:
    """Start a run (`base_path` and `choices` given) or continue the checkpoint beside `out`."""

    folder: Path | None  # None when resuming: the checkpoint's folder
    out: Path  # the run's model; its checkpoint and metrics are written beside it
    base_path: Path | None
    choices: FinetuneChoices | None
    device: str = "auto"

    @property
    def resuming(self) -> bool:
        return self.base_path is None


@dataclass(frozen=True)
class RunStarted:
    """Everything the panel needs before the first step."""

    scan: FolderScan
    config: TrainConfig
    paths: TrainPaths
    class_names: tuple[str, ...]
    train_images: int
    validation: ValidationSet | None
    probe: Probe
    history: tuple[EpochInfo, ...]  # epochs a resumed run has already done
    skipped: tuple[SkippedFile, ...]  # files that no longer decode since the scan
    command: str  # the CLI command that makes the same run


# --- the worker ----------------------------------------------------------------------------------


class TrainingWorker(QObject):
    """Owns the training: scans, inspects base models, runs, saves copies; one job at a time."""

    # (job id, what, value): what names the TrainingClient signal that forwards value, one of
    # scanned, baseInspected, runStarted, stepDone, epochDone, note, runEnded, saved.
    reported = Signal(int, str, object)
    stage = Signal(int, str, int, int)  # job id, what, done, total (scanning and caching)
    failed = Signal(int, str)  # job id, one-line message
    finished = Signal(int)  # job id; after every job, whatever happened

    def __init__(self, ledger: Ledger, control: RunControl, num_threads: int) -> None:
        super().__init__()
        self._ledger = ledger
        self._control = control
        self._num_threads = num_threads

    @Slot()
    def setup(self) -> None:
        torch.set_num_threads(self._num_threads)

    @Slot(int, object, float)
    def scan(self, job_id: int, folder: Path, val_share: float) -> None:
        if not self._ledger.is_current(SCAN, job_id):
            self.finished.emit(job_id)
            return
        try:
            scan = scan_training_folder(
                folder,
                val_share,
                progress=lambda done, total: self.stage.emit(
                    job_id, "checking images", done, total
                ),
                cancel=lambda: not self._ledger.is_current(SCAN, job_id),
            )
            self.reported.emit(job_id, "scanned", ScanResult(folder, scan))
        except CacheCancelled:
            pass  # a newer folder superseded this one
        except UntrainableFolder as exc:
            blocked = ScanResult(folder, None, str(exc), exc.scan, exc.short_classes)
            self.reported.emit(job_id, "scanned", blocked)
        except StudioError as exc:
            self.reported.emit(job_id, "scanned", ScanResult(folder, None, str(exc)))
        except Exception as exc:  # every failure must reach the user and leave the worker alive
            self.failed.emit(job_id, describe_failure(exc, f"scanning {folder}"))
        finally:
            self.finished.emit(job_id)

    @Slot(int, object)
    def inspect(self, job_id: int, path: Path) -> None:
        try:
            if self._ledger.is_current(BASE, job_id):
                self.reported.emit(job_id, "baseInspected", inspect_checkpoint(path))
        except Exception as exc:  # every failure must reach the user and leave the worker alive
            self.failed.emit(job_id, describe_failure(exc, f"reading {path.name}"))
        finally:
            self.finished.emit(job_id)

    @Slot(int, object, object)
    def save_copy(self, job_id: int, source: Path, target: Path) -> None:
        """The run's model under a new name (its metadata name too), written atomically."""
        try:
            model = load_studio_model(source)
            save_model(with_meta(model, name=target.stem), target)
            self.reported.emit(job_id, "saved", target)
        except Exception as exc:  # every failure must reach the user and leave the worker alive
            self.failed.emit(job_id, describe_run_failure(exc, f"saving {target}", None))
        finally:
            self.finished.emit(job_id)

    @Slot(int, object)
    def run(self, job_id: int, request: RunRequest) -> None:
        paths = TrainPaths.beside(request.out)
        try:
            self._run(job_id, request, paths)
        except (CacheCancelled, EvaluationCancelled):
            self.reported.emit(job_id, "runEnded", None)  # cancelled before training began
        except Exception as exc:  # every failure must reach the user and leave the worker alive
            if isinstance(exc, torch.cuda.OutOfMemoryError):
                torch.cuda.empty_cache()
            self.failed.emit(job_id, describe_run_failure(exc, "training", paths))
        finally:
            self.finished.emit(job_id)

    def _run(self, job_id: int, request: RunRequest, paths: TrainPaths) -> None:
        control = self._control

        def stage(what: str, done: int, total: int) -> None:
            self.stage.emit(job_id, what, done, total)

        prepared = (_prepare_resume if request.resuming else _prepare_new)(
            request, paths, stage, lambda: control.cancelled
        )
        inputs, config = prepared.inputs, prepared.config
        model = inputs.model
        names = model.meta.class_names
        train_images = len(inputs.train.labels)
        probe, probe_input = probe_image(inputs.val or inputs.train, model)
        history = prepared.resume.history if prepared.resume is not None else ()
        self.reported.emit(
            job_id,
            "runStarted",
            RunStarted(
                scan=prepared.scan,
                config=config,
                paths=paths,
                class_names=names,
                train_images=train_images,
                validation=validation_set(names, inputs.val) if inputs.val else None,
                probe=probe,
                history=history,
                skipped=inputs.train.skipped + (inputs.val.skipped if inputs.val else ()),
                command=prepared.command,
            ),
        )
        taker = SnapshotTaker(
            model, inputs.val, probe_input, config, train_images, lambda: control.cancelled
        )
        first = len(history)
        self.reported.emit(job_id, "epochDone", taker.take(first, history[-1] if history else None))
        pacer = _Pacer(control, config, train_images, first)

        validated: list[EvalResult] = []  # this epoch's, from on_validated

        def on_epoch(info: EpochInfo) -> None:
            validation = validated.pop() if validated else None
            # Cancelled while scoring: no snapshot; the engine stops before its next step.
            with contextlib.suppress(EvaluationCancelled):
                self.reported.emit(job_id, "epochDone", taker.take(info.epoch, info, validation))

        result = train(
            model,
            inputs.train,
            inputs.val,
            config,
            out=paths.model,
            callbacks=TrainCallbacks(
                on_step=lambda info: self.reported.emit(job_id, "stepDone", pacer.adjust(info)),
                on_validated=validated.append,
                on_epoch=on_epoch,
                on_note=lambda message: self.reported.emit(job_id, "note", message),
            ),
            cancel=control.poll,
            resume=prepared.resume,
            provenance={
                "command": prepared.command,
                "dataset": str(prepared.scan.root.resolve()),
                "data": inputs.data,
            },
        )
        self.reported.emit(job_id, "runEnded", result)


@dataclass(frozen=True)
class _Prepared:
    """A run ready for `train`: the scan, the model and images, the settings."""

    scan: FolderScan
    inputs: FinetuneInputs
    config: TrainConfig
    command: str  # the CLI command that makes the same run
    resume: TrainCheckpoint | None


def _prepare_new(
    request: RunRequest, paths: TrainPaths, stage: StageProgress, cancel: Callable[[], bool]
) -> _Prepared:
    """The CLI's `finetune` path: scan, plan from the form's settings, prepare, cache."""
    assert request.folder and request.base_path and request.choices
    choices = request.choices
    base = load_model(request.base_path)
    scan = scan_training_folder(
        request.folder,
        choices.val_share,
        progress=lambda done, total: stage("checking images", done, total),
        cancel=cancel,
    )
    plan = plan_finetune(
        scan, base.arch, image_size=choices.image_size, device=request.device,
        **choices.train_settings(),
    )  # fmt: skip
    inputs = prepare_inputs(
        base, scan, plan, val_share=choices.val_share, base_path=request.base_path,
        name=paths.model.stem, progress=stage, cancel=cancel,
    )  # fmt: skip
    command = shlex.join(
        [
            "vit-studio", "finetune", str(request.folder),
            "--model", str(request.base_path), "--out", str(paths.model),
            *choices.cli_arguments(), "--device", request.device,
        ]
    )  # fmt: skip
    config = replace(plan.config, log_every=_log_every(plan.config, inputs))
    return _Prepared(scan, inputs, config, command, None)


def _prepare_resume(
    request: RunRequest, paths: TrainPaths, stage: StageProgress, cancel: Callable[[], bool]
) -> _Prepared:
    """The CLI's `--resume` path: the checkpoint's settings, model and folder split."""
    checkpoint = load_checkpoint(paths.checkpoint)
    scan = scan_training_folder(
        request.folder or _checkpoint_folder(checkpoint),
        checkpoint_val_share(checkpoint),
        progress=lambda done, total: stage("checking images", done, total),
        cancel=cancel,
    )
    inputs = resume_inputs(checkpoint, scan, progress=stage, cancel=cancel)
    config = replace(checkpoint.config, log_every=_log_every(checkpoint.config, inputs))
    command = str(checkpoint.provenance.get("command", ""))
    return _Prepared(scan, inputs, config, command, checkpoint)


def _checkpoint_folder(checkpoint: TrainCheckpoint) -> Path:
    dataset = checkpoint.provenance.get("dataset")
    if not dataset:
        raise StudioError(
            f"{checkpoint.path}: the checkpoint does not say which folder it was trained on; "
            "choose the folder, then resume"
        )
    return Path(dataset)


def _log_every(config: TrainConfig, inputs: FinetuneInputs) -> int:
    """Steps between reports: about `REPORTS_PER_EPOCH` per epoch (a setting that changes only
    how often the loss is read, never what is learned)."""
    images = len(inputs.train.labels)
    steps = max(1, images // min(config.batch_size, images))
    return max(1, steps // REPORTS_PER_EPOCH)


class _Pacer:
    """Images per second and time left, counting only time spent training (not paused)."""

    def __init__(self, control: RunControl, config: TrainConfig, images: int, first_epoch: int):
        self._control = control
        self._batch = min(config.batch_size, images)
        self._first_epoch = first_epoch
        self._started = time.monotonic()
        self._last: tuple[float, int] | None = None  # (active seconds, steps done)

    def adjust(self, info: StepInfo) -> StepInfo:
        active = time.monotonic() - self._started - self._control.paused_seconds
        done = (info.epoch - 1) * info.steps_per_epoch + info.step
        first = self._first_epoch * info.steps_per_epoch
        last_active, last_done = self._last if self._last is not None else (0.0, first)
        self._last = (active, done)
        rate = (done - last_done) * self._batch / max(active - last_active, 1e-9)
        remaining = info.epochs * info.steps_per_epoch - done
        eta = remaining * active / max(done - first, 1)
        return replace(info, images_per_s=rate, eta_s=eta)


def describe_run_failure(exc: BaseException, doing: str, paths: TrainPaths | None) -> str:
    """One line: what went wrong, the fix, and whether the last checkpoint is there to resume."""
    if _is_out_of_memory(exc):
        if isinstance(exc, torch.cuda.OutOfMemoryError):
            torch.cuda.empty_cache()
        message = (
            f"out of memory while {doing}; lower the batch size or the image size, or freeze more "
            "of the model"
        )
    elif _is_disk_full(exc):
        message = f"the disk is full while {doing}; free some space"
    elif isinstance(exc, OSError) and not isinstance(exc, StudioError):
        where = exc.filename or (paths.model.parent if paths else "the output folder")
        message = (
            f"{where}: could not write while {doing} ({exc.strerror or exc}); check that the "
            "folder exists and is writable"
        )
    else:
        message = describe_failure(exc, doing)
    if paths is not None and paths.checkpoint.is_file():
        message += f" — the last checkpoint ({paths.checkpoint.name}) is kept: Resume continues it"
    return message


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError)):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "can't allocate memory" in text or "not enough memory" in text
    )


def _is_disk_full(exc: BaseException) -> bool:
    # torch.save reports a failed write as a RuntimeError of its zip writer; the cause has errno.
    for error in (exc, exc.__cause__, exc.__context__):
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            return True
    return "No space left on device" in str(exc) or "file write failed" in str(exc)


# --- the GUI's handle --------------------------------------------------------------------------


class TrainingClient(QObject):
    """Drives the `TrainingWorker`: the newest scan and base inspection win; one run at a time.

    Signals carry results only for current requests. `runningChanged(True)` comes with `start`,
    `runningChanged(False)` once the worker has really finished the run.
    """

    scanned = Signal(object)  # ScanResult
    baseInspected = Signal(object)  # CheckpointInfo
    stage = Signal(str, int, int)  # what, done, total
    runStarted = Signal(object)  # RunStarted
    stepDone = Signal(object)  # StepInfo
    epochDone = Signal(object)  # EpochSnapshot
    note = Signal(str)
    runEnded = Signal(object)  # TrainResult, or None when cancelled before training began
    saved = Signal(object)  # Path
    failed = Signal(str, str)  # job kind (SCAN, BASE, RUN, SAVE), one-line message
    runningChanged = Signal(bool)

    _scanRequested = Signal(int, object, float)
    _inspectRequested = Signal(int, object)
    _runRequested = Signal(int, object)
    _saveRequested = Signal(int, object, object)

    def __init__(self, parent: QObject | None = None, num_threads: int | None = None) -> None:
        super().__init__(parent)
        self._ledger = Ledger()
        self._control = RunControl()
        self._kinds: dict[int, str] = {}
        self._run_id: int | None = None
        worker = TrainingWorker(self._ledger, self._control, num_threads or default_num_threads())
        self._worker = worker
        self._scanRequested.connect(worker.scan)
        self._inspectRequested.connect(worker.inspect)
        self._runRequested.connect(worker.run)
        self._saveRequested.connect(worker.save_copy)
        worker.reported.connect(self._on_reported)
        worker.stage.connect(self._on_stage)
        worker.failed.connect(self._on_failed)
        worker.finished.connect(self._on_finished)
        self._thread = QThread(self)
        self._thread.setObjectName("fine-tune")
        worker.moveToThread(self._thread)
        self._thread.started.connect(worker.setup)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._run_id is not None

    @property
    def paused(self) -> bool:
        return self._control.paused

    @property
    def control(self) -> RunControl:
        """The current run's pause and cancel switches (and whether the trainer waits)."""
        return self._control

    def scan(self, folder: Path, val_share: float) -> None:
        """Scan `folder` (superseding any scan not yet reported)."""
        self._scanRequested.emit(self._issue(SCAN), Path(folder), float(val_share))

    def inspect(self, path: Path) -> None:
        """Read the architecture of a base model without loading its weights."""
        self._inspectRequested.emit(self._issue(BASE), Path(path))

    def start(self, request: RunRequest) -> None:
        if self.running:
            raise RuntimeError("a run is already going; cancel it first")
        self._control.reset()
        self._run_id = self._issue(RUN)
        self.runningChanged.emit(True)
        self._runRequested.emit(self._run_id, request)

    def pause(self) -> None:
        self._control.pause()

    def resume(self) -> None:
        self._control.resume()

    def cancel(self) -> None:
        """Stop the run before its next step; the files of the last finished epoch stay."""
        self._control.cancel()

    def save_copy(self, source: Path, target: Path) -> None:
        self._saveRequested.emit(self._issue(SAVE), Path(source), Path(target))

    def stop(self, timeout_ms: int = 5000) -> bool:
        """Cancel whatever runs and end the thread; True if it ended within `timeout_ms`."""
        self._ledger.issue(SCAN)
        self._control.cancel()
        self._thread.quit()
        stopped = self._thread.wait(timeout_ms)
        if not stopped:
            log.warning("the fine-tune thread is still busy after %d ms", timeout_ms)
        return stopped

    def _issue(self, kind: str) -> int:
        job_id = self._ledger.issue(kind)
        self._kinds[job_id] = kind
        return job_id

    def _current(self, job_id: int) -> bool:
        kind = self._kinds.get(job_id)
        return kind is not None and self._ledger.is_current(kind, job_id)

    @Slot(int, str, object)
    def _on_reported(self, job_id: int, name: str, value: object) -> None:
        if self._current(job_id):
            getattr(self, name).emit(value)

    @Slot(int, str, int, int)
    def _on_stage(self, job_id: int, what: str, done: int, total: int) -> None:
        if self._current(job_id):
            self.stage.emit(what, done, total)

    @Slot(int, str)
    def _on_failed(self, job_id: int, message: str) -> None:
        if self._current(job_id):
            self.failed.emit(self._kinds[job_id], message)

    @Slot(int)
    def _on_finished(self, job_id: int) -> None:
        self._kinds.pop(job_id, None)
        if job_id == self._run_id:
            self._run_id = None
            self.runningChanged.emit(False)
