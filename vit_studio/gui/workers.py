"""Workers that own models in their own QThreads, and the GUI-side handles that drive them.

The pattern of DESIGN.md (Threads): each worker object lives in its own QThread and owns what it
computes with; the GUI reaches it only through queued signals and gets plain Python / numpy
objects back. Every request carries an id from a `Ledger`, and the newest request of a kind wins:
a worker skips requests that were superseded before it reached them, and the handle drops results
of superseded ones. Failures come back as one-line messages (`describe_failure`). `stop()` asks a
thread to finish and waits with a timeout.

The engine reports through plain callbacks (`predict_files(progress=, cancelled=)`); the batch
worker turns those into signals, and cancelling a job is superseding it in the ledger, so there is
no flag to reset and no race between a cancel and the next job.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageOps
from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtGui import QImage

from vit_studio.engine.analysis import Analysis, analyze
from vit_studio.engine.batch import BatchCancelled, predict_files, write_predictions_csv
from vit_studio.engine.checkpoints import load_model
from vit_studio.engine.checkpoints.discovery import find_local_models
from vit_studio.engine.device import available_devices, resolve_device
from vit_studio.engine.errors import StudioError
from vit_studio.engine.images import PreparedImage, open_image, prepare_image, to_rgb
from vit_studio.engine.model import StudioModel, ViTArch
from vit_studio.gui import imaging
from vit_studio.gui.cpu import default_num_threads

log = logging.getLogger(__name__)

MODEL = "model"
ANALYSIS = "analysis"
SCAN = "scan"
BATCH = "batch"
THUMBNAILS = "thumbnails"


class Ledger:
    """The newest request id of each kind. Written by the GUI thread, read by workers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0
        self._latest: dict[str, int] = {}

    def issue(self, kind: str) -> int:
        """A fresh id that supersedes every earlier request of `kind`."""
        with self._lock:
            self._next += 1
            self._latest[kind] = self._next
            return self._next

    def is_current(self, kind: str, request_id: int) -> bool:
        with self._lock:
            return self._latest.get(kind) == request_id


def describe_failure(exc: BaseException, doing: str) -> str:
    """One line for the user. Our own errors already say what to do; bugs are logged in full."""
    if isinstance(exc, StudioError):
        return str(exc)
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return (
            f"out of GPU memory while {doing}; choose CPU as the device, or close other "
            "programs that use the GPU"
        )
    log.error("unexpected error while %s", doing, exc_info=exc)
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"unexpected error while {doing}: {type(exc).__name__}: {first_line}"


def _start_thread(worker: QObject, name: str, parent: QObject) -> QThread:
    """Move `worker` into a new running thread; its `setup` slot, if any, runs there first."""
    thread = QThread(parent)
    thread.setObjectName(name)
    worker.moveToThread(thread)
    if hasattr(worker, "setup"):
        thread.started.connect(worker.setup)
    thread.start()
    return thread


def _stop_thread(thread: QThread, timeout_ms: int) -> bool:
    """Ask the thread's event loop to end; True if it did within `timeout_ms`."""
    thread.quit()
    stopped = thread.wait(timeout_ms)
    if not stopped:
        log.warning("thread %s still busy after %d ms", thread.objectName(), timeout_ms)
    return stopped


# --- what travels between threads ------------------------------------------------------------


@dataclass(frozen=True)
class ModelSummary:
    """What the GUI shows about the loaded model."""

    path: Path
    name: str
    arch: ViTArch
    class_names: tuple[str, ...]
    num_parameters: int
    resize_size: int
    device: str  # torch's name, e.g. "cpu", "cuda:0"
    device_label: str  # for people, e.g. "CPU (3 threads)", "CUDA: NVIDIA H100 80GB HBM3"


@dataclass(frozen=True)
class ImageResult:
    """One analysed image, as the views receive it."""

    path: Path
    analysis: Analysis
    device: str
    decode_ms: float  # opening, resizing and normalising the file
    total_ms: float  # decode + analysis, as the worker measured it


@dataclass(frozen=True)
class ModelRequest:
    path: Path
    device: str
    reload: bool  # False: only move the model already loaded from `path`


@dataclass(frozen=True)
class AnalysisRequest:
    path: Path
    gradient_classes: int | tuple[int, ...] | None


@dataclass(frozen=True)
class BatchJob:
    model_path: Path
    device: str
    files: tuple[Path, ...]
    output: Path
    top_k: int = 5
    batch_size: int = 8


@dataclass(frozen=True)
class BatchSummary:
    output: Path
    images: int
    failures: int


# --- inference ---------------------------------------------------------------------------------


class InferenceWorker(QObject):
    """Owns the interactive model; loads it, moves it between devices, analyses images."""

    modelReady = Signal(int, object)  # request id, ModelSummary
    analysisReady = Signal(int, object)  # request id, ImageResult
    localModelsFound = Signal(int, object)  # request id, list[LocalModel]
    failed = Signal(int, str)  # request id, one-line message
    finished = Signal(int)  # request id; after every request, whether done, failed or skipped
    devicesFound = Signal(object)  # list[str], see engine.device.available_devices

    def __init__(self, ledger: Ledger, num_threads: int) -> None:
        super().__init__()
        self._ledger = ledger
        self._num_threads = num_threads
        self._model: StudioModel | None = None
        self._model_path: Path | None = None
        self._prepared_key: tuple | None = None
        self._prepared: PreparedImage | None = None

    @Slot()
    def setup(self) -> None:
        # OpenMP thread counts are per calling thread: this caps the worker's own pool only.
        torch.set_num_threads(self._num_threads)
        self.devicesFound.emit(available_devices())

    @Slot(int, object)
    def load(self, request_id: int, request: ModelRequest) -> None:
        name = request.path.name
        moving = not request.reload and request.path == self._model_path
        doing = f"moving {name} to {request.device}" if moving else f"loading {name}"
        self._run(request_id, MODEL, doing, self._load, request)

    @Slot(int, object)
    def analyze(self, request_id: int, request: AnalysisRequest) -> None:
        self._run(request_id, ANALYSIS, f"analysing {request.path.name}", self._analyze, request)

    @Slot(int)
    def scan(self, request_id: int) -> None:
        self._run(request_id, SCAN, "looking for models on this computer", self._scan, None)

    def _run(self, request_id: int, kind: str, doing: str, job, request) -> None:
        try:
            if self._ledger.is_current(kind, request_id):
                job(request_id, request)
        except Exception as exc:  # every failure must reach the user and leave the worker alive
            if isinstance(exc, torch.cuda.OutOfMemoryError):
                torch.cuda.empty_cache()
            self.failed.emit(request_id, describe_failure(exc, doing))
        finally:
            self.finished.emit(request_id)

    def _load(self, request_id: int, request: ModelRequest) -> None:
        target = resolve_device(request.device)
        if request.reload or self._model is None or request.path != self._model_path:
            model = load_model(request.path)
            # A new model that does not fit is dropped; the one we had stays in use.
            _move(model, target, fallback=torch.device("cpu"))
        else:
            model = self._model
            _move(model, target, fallback=model.device)
        self._model, self._model_path = model, request.path
        self.modelReady.emit(request_id, _summarise(model, request.path, self._num_threads))

    def _analyze(self, request_id: int, request: AnalysisRequest) -> None:
        if self._model is None:
            raise StudioError("no model is loaded yet; open one with Model ▸ Open Model…")
        started = time.perf_counter()
        prepared = self._prepare(request.path)
        decoded = time.perf_counter()
        analysis = analyze(self._model, prepared, gradient_classes=request.gradient_classes)
        finished = time.perf_counter()
        self.analysisReady.emit(
            request_id,
            ImageResult(
                path=request.path,
                analysis=analysis,
                device=str(self._model.device),
                decode_ms=(decoded - started) * 1000.0,
                total_ms=(finished - started) * 1000.0,
            ),
        )

    def _prepare(self, path: Path) -> PreparedImage:
        """The model input for `path`, reused while file and preprocessing are unchanged.

        Asking for another class's gradients re-analyses the same image; decoding a large
        photo again would cost more than the gradients.
        """
        assert self._model is not None
        try:
            info = path.stat()
            key = (path, info.st_mtime_ns, info.st_size, self._model.meta.preprocessing)
        except OSError:
            key = None  # open_image reports the problem with the file
        if key is None or key != self._prepared_key or self._prepared is None:
            self._prepared = prepare_image(open_image(path), self._model.meta.preprocessing)
            self._prepared_key = key
        return self._prepared

    def _scan(self, request_id: int, _request: None) -> None:
        self.localModelsFound.emit(request_id, find_local_models())


def _move(model: StudioModel, target: torch.device, fallback: torch.device) -> None:
    try:
        model.to(target)
    except torch.cuda.OutOfMemoryError:
        model.to(fallback)
        raise


def _summarise(model: StudioModel, path: Path, num_threads: int) -> ModelSummary:
    device = model.device
    if device.type == "cuda":
        label = f"CUDA: {torch.cuda.get_device_name(device)}"
    elif device.type == "mps":
        label = "Apple MPS"
    else:
        label = f"CPU ({num_threads} thread{'s' if num_threads > 1 else ''})"
    return ModelSummary(
        path=path,
        name=model.meta.name,
        arch=model.arch,
        class_names=model.meta.class_names,
        num_parameters=model.num_parameters(),
        resize_size=model.meta.preprocessing.resize_size,
        device=str(device),
        device_label=label,
    )


class InferenceClient(QObject):
    """The GUI's handle on the `InferenceWorker`: issues requests, forwards current results."""

    modelReady = Signal(object)  # ModelSummary
    analysisReady = Signal(object)  # ImageResult
    localModelsFound = Signal(object)  # list[LocalModel]
    failed = Signal(str, str)  # request kind (MODEL, ANALYSIS, SCAN), one-line message
    busyChanged = Signal(bool)
    devicesFound = Signal(object)  # list[str]

    _loadRequested = Signal(int, object)
    _analysisRequested = Signal(int, object)
    _scanRequested = Signal(int)

    def __init__(self, parent: QObject | None = None, num_threads: int | None = None) -> None:
        super().__init__(parent)
        self._ledger = Ledger()
        self._pending: dict[int, str] = {}
        self._model_path: Path | None = None
        self._worker = InferenceWorker(self._ledger, num_threads or default_num_threads())
        self._loadRequested.connect(self._worker.load)
        self._analysisRequested.connect(self._worker.analyze)
        self._scanRequested.connect(self._worker.scan)
        self._worker.modelReady.connect(self._on_model)
        self._worker.analysisReady.connect(self._on_analysis)
        self._worker.localModelsFound.connect(self._on_local_models)
        self._worker.failed.connect(self._on_failed)
        self._worker.finished.connect(self._settle)
        self._worker.devicesFound.connect(self.devicesFound)
        self._thread = _start_thread(self._worker, "inference", self)

    @property
    def busy(self) -> bool:
        return bool(self._pending)

    def load_model(self, path: Path, device: str) -> None:
        """Load `path` onto `device`; supersedes earlier loads and every analysis in flight."""
        self._model_path = path
        self._send(MODEL, self._loadRequested, ModelRequest(path, device, reload=True))
        self._ledger.issue(ANALYSIS)  # results computed with the previous model are stale

    def set_device(self, device: str) -> bool:
        """Move the current model; False if none was asked for yet."""
        if self._model_path is None:
            return False
        # A load still in flight is superseded by this request, so it must load, not just move.
        reload = MODEL in self._pending.values()
        self._send(MODEL, self._loadRequested, ModelRequest(self._model_path, device, reload))
        return True

    def analyze(self, path: Path, gradient_classes: int | tuple[int, ...] | None = None) -> None:
        self._send(ANALYSIS, self._analysisRequested, AnalysisRequest(path, gradient_classes))

    def scan_local_models(self) -> None:
        request_id = self._ledger.issue(SCAN)
        self._track(request_id, SCAN)
        self._scanRequested.emit(request_id)

    def stop(self, timeout_ms: int = 5000) -> bool:
        for kind in (MODEL, ANALYSIS, SCAN):
            self._ledger.issue(kind)  # queued requests are skipped, results dropped
        return _stop_thread(self._thread, timeout_ms)

    def _send(self, kind: str, signal, request) -> None:
        request_id = self._ledger.issue(kind)
        self._track(request_id, kind)
        signal.emit(request_id, request)

    def _track(self, request_id: int, kind: str) -> None:
        was_busy = self.busy
        self._pending[request_id] = kind
        if not was_busy:
            self.busyChanged.emit(True)

    def _on_model(self, request_id: int, summary: ModelSummary) -> None:
        self._settle(request_id)
        if self._ledger.is_current(MODEL, request_id):
            self.modelReady.emit(summary)

    def _on_analysis(self, request_id: int, result: ImageResult) -> None:
        self._settle(request_id)
        if self._ledger.is_current(ANALYSIS, request_id):
            self.analysisReady.emit(result)

    def _on_local_models(self, request_id: int, models: list) -> None:
        self._settle(request_id)
        if self._ledger.is_current(SCAN, request_id):
            self.localModelsFound.emit(models)

    def _on_failed(self, request_id: int, message: str) -> None:
        kind = self._pending.get(request_id)
        self._settle(request_id)
        if kind is not None and self._ledger.is_current(kind, request_id):
            self.failed.emit(kind, message)

    def _settle(self, request_id: int) -> None:
        # Results settle their request at once, so receivers of a result already see the
        # worker as idle; the worker's own `finished` then changes nothing.
        if self._pending.pop(request_id, None) is not None and not self._pending:
            self.busyChanged.emit(False)


# --- batch export ------------------------------------------------------------------------------


class BatchExportWorker(QObject):
    """Writes a CSV of top-k predictions for many files with a model of its own.

    It loads its own copy of the model: the interactive worker patches its model during an
    analysis (attention capture), so sharing one module across threads would be unsafe, and a
    long export must not hold up the interactive views.
    """

    progress = Signal(int, int, int)  # job id, images done, images in total
    done = Signal(int, object)  # job id, BatchSummary
    failed = Signal(int, str)  # job id, one-line message
    finished = Signal(int)  # job id; after every job, whatever happened

    def __init__(self, ledger: Ledger, num_threads: int) -> None:
        super().__init__()
        self._ledger = ledger
        self._num_threads = num_threads
        self._model: StudioModel | None = None
        self._model_key: tuple[Path, str] | None = None

    @Slot()
    def setup(self) -> None:
        torch.set_num_threads(self._num_threads)

    @Slot(int, object)
    def run(self, job_id: int, job: BatchJob) -> None:
        try:
            if not self._ledger.is_current(BATCH, job_id):
                return
            model = self._model_for(job)
            results = predict_files(
                model,
                job.files,
                top_k=job.top_k,
                batch_size=job.batch_size,
                progress=lambda done, total: self.progress.emit(job_id, done, total),
                cancelled=lambda: not self._ledger.is_current(BATCH, job_id),
            )
            write_predictions_csv(job.output, results, job.top_k)
            failures = sum(1 for result in results if result.error)
            self.done.emit(job_id, BatchSummary(job.output, len(results), failures))
        except BatchCancelled:
            pass  # the GUI already knows: cancelling is how it superseded this job
        except Exception as exc:  # every failure must reach the user and leave the worker alive
            if isinstance(exc, torch.cuda.OutOfMemoryError):
                torch.cuda.empty_cache()
            self.failed.emit(job_id, describe_failure(exc, "exporting predictions"))
        finally:
            self.finished.emit(job_id)

    def _model_for(self, job: BatchJob) -> StudioModel:
        key = (job.model_path, job.device)
        if self._model is None or self._model_key != key:
            self._model, self._model_key = None, None  # free the old copy before loading
            model = load_model(job.model_path)
            _move(model, resolve_device(job.device), fallback=torch.device("cpu"))
            self._model, self._model_key = model, key
        return self._model


class BatchExporter(QObject):
    """The GUI's handle on the `BatchExportWorker`: one job at a time, cancellable."""

    progress = Signal(int, int)  # images done, images in total
    finished = Signal(object)  # BatchSummary
    failed = Signal(str)
    runningChanged = Signal(bool)  # True from start() until the worker has really stopped

    _runRequested = Signal(int, object)

    def __init__(self, parent: QObject | None = None, num_threads: int | None = None) -> None:
        super().__init__(parent)
        self._ledger = Ledger()
        self._running: set[int] = set()
        self._worker = BatchExportWorker(self._ledger, num_threads or default_num_threads())
        self._runRequested.connect(self._worker.run)
        self._worker.progress.connect(self._on_progress)
        self._worker.done.connect(self._on_done)
        self._worker.failed.connect(self._on_failed)
        self._worker.finished.connect(self._on_finished)
        self._thread = _start_thread(self._worker, "batch export", self)

    @property
    def running(self) -> bool:
        return bool(self._running)

    def start(self, job: BatchJob) -> None:
        """Run `job`, cancelling any job still running."""
        job_id = self._ledger.issue(BATCH)
        if not self._running:
            self.runningChanged.emit(True)
        self._running.add(job_id)
        self._runRequested.emit(job_id, job)

    def cancel(self) -> None:
        """Stop the running job at its next batch; it writes nothing."""
        self._ledger.issue(BATCH)

    def stop(self, timeout_ms: int = 5000) -> bool:
        self.cancel()
        return _stop_thread(self._thread, timeout_ms)

    def _is_current(self, job_id: int) -> bool:
        return self._ledger.is_current(BATCH, job_id)

    def _on_progress(self, job_id: int, done: int, total: int) -> None:
        if self._is_current(job_id):
            self.progress.emit(done, total)

    def _on_done(self, job_id: int, summary: BatchSummary) -> None:
        if self._is_current(job_id):
            self.finished.emit(summary)

    def _on_failed(self, job_id: int, message: str) -> None:
        if self._is_current(job_id):
            self.failed.emit(message)

    def _on_finished(self, job_id: int) -> None:
        self._running.discard(job_id)
        if not self._running:
            self.runningChanged.emit(False)


# --- filmstrip thumbnails ----------------------------------------------------------------------


class ThumbnailWorker(QObject):
    """Decodes small previews of a folder's images, newest folder first, off the GUI thread.

    Pillow rather than QImageReader: Pillow releases the GIL while it decodes, Qt's reader does
    not, and a large PNG takes long enough to stall the GUI. `draft` lets JPEGs decode at a
    fraction of their size.
    """

    thumbnailReady = Signal(int, int, QImage)  # generation, row, image (null: unreadable)

    def __init__(self, ledger: Ledger) -> None:
        super().__init__()
        self._ledger = ledger

    @Slot(int, object, int)
    def load(self, generation: int, paths: list[Path], size: int) -> None:
        for row, path in enumerate(paths):
            if not self._ledger.is_current(THUMBNAILS, generation):
                return
            self.thumbnailReady.emit(generation, row, thumbnail(path, size))


def thumbnail(path: Path, size: int) -> QImage:
    """An upright RGB preview at most `size` pixels on a side; a null QImage if unreadable."""
    try:
        with Image.open(path) as image:
            image.draft("RGB", (size, size))
            upright = ImageOps.exif_transpose(image)
            upright.thumbnail((size, size))
            return imaging.rgb_to_qimage(to_rgb(upright))
    except Exception:  # Pillow raises many types on bad data; the filmstrip marks the file
        return QImage()


class ThumbnailLoader(QObject):
    """The GUI's handle on the `ThumbnailWorker`; a new folder supersedes the previous one."""

    thumbnailReady = Signal(int, QImage)  # row, image (null: unreadable)

    _loadRequested = Signal(int, object, int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ledger = Ledger()
        self._worker = ThumbnailWorker(self._ledger)
        self._loadRequested.connect(self._worker.load)
        self._worker.thumbnailReady.connect(self._on_thumbnail)
        self._thread = _start_thread(self._worker, "thumbnails", self)

    def load(self, paths: list[Path], size: int) -> None:
        self._loadRequested.emit(self._ledger.issue(THUMBNAILS), list(paths), size)

    def stop(self, timeout_ms: int = 5000) -> bool:
        self._ledger.issue(THUMBNAILS)
        return _stop_thread(self._thread, timeout_ms)

    def _on_thumbnail(self, generation: int, row: int, image: QImage) -> None:
        if self._ledger.is_current(THUMBNAILS, generation):
            self.thumbnailReady.emit(row, image)
