"""Folder export in a thread of its own: the top-k predictions of many images, written as CSV.

The thread loads its own copy of the model: the inference thread patches its model during an
analysis (attention capture), so sharing one module across threads would be unsafe, and a long
export must not hold up the interactive views. The rows are streamed to the file batch by batch
(`engine.predictions_csv`); cancelling keeps the rows finished so far, and `stopped` says how
many.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from vit_studio.engine.analysis import TOP_K
from vit_studio.engine.errors import Cancelled
from vit_studio.gui.cpu import default_num_threads, torch_setup
from vit_studio.gui.workers.thread import JobContext, WorkerThread

if TYPE_CHECKING:
    from vit_studio.engine.model import StudioModel

EXPORT = "export"


@dataclass(frozen=True)
class BatchJob:
    model_path: Path
    device: str
    files: tuple[Path, ...]
    output: Path
    top_k: int = TOP_K
    batch_size: int | None = None  # None: engine.batch.default_batch_size of the device


@dataclass(frozen=True)
class BatchSummary:
    """What the CSV at `output` holds: rows for `images` of the job's `total` (all of them
    unless it was cancelled), `failures` of them unreadable files."""

    output: Path
    images: int
    failures: int
    total: int


class _ExportModel:
    """The export thread's own model, kept between jobs with the same model and device."""

    def __init__(self) -> None:
        self._model: StudioModel | None = None
        self._key: tuple[Path, str] | None = None

    def get(self, path: Path, device: str) -> StudioModel:
        # Imported in the export thread, when a folder is exported: never at start-up.
        from vit_studio.engine.checkpoints import load_model
        from vit_studio.engine.device import resolve_device

        if self._model is None or self._key != (path, device):
            self._model, self._key = None, None  # free the old copy before loading
            model = load_model(path).to(resolve_device(device))
            self._model, self._key = model, (path, device)
        return self._model


class BatchExporter(QObject):
    """The GUI's handle on the export thread: one job at a time, cancellable."""

    progress = Signal(int, int)  # images done, images in total
    finished = Signal(BatchSummary)
    stopped = Signal(BatchSummary)  # a cancelled job: the rows kept (images 0: no file written)
    failed = Signal(str)
    runningChanged = Signal(bool)  # True from start() until the thread has really stopped

    def __init__(self, parent: QObject | None = None, num_threads: int | None = None) -> None:
        super().__init__(parent)
        threads = num_threads or default_num_threads()
        self._thread = WorkerThread("batch export", self, setup=torch_setup(threads))
        self._thread.busyChanged.connect(self.runningChanged)
        self._model = _ExportModel()

    @property
    def running(self) -> bool:
        return self._thread.busy

    def start(self, job: BatchJob) -> None:
        """Run `job`, cancelling any job still running."""
        kept: list[BatchSummary] = []  # a cancelled job's rows; read once the job has ended
        self._thread.submit(
            EXPORT,
            lambda context: self._export(context, job, kept),
            doing="exporting predictions",
            done=self.finished.emit,
            failed=self.failed.emit,
            ended=lambda: self._ended(kept),
        )

    def cancel(self) -> None:
        """Stop the running job at its next batch; the rows it finished are kept (`stopped`)."""
        self._thread.cancel(EXPORT)

    def stop(self, timeout_ms: int = 5000) -> bool:
        return self._thread.stop(timeout_ms)

    def _ended(self, kept: list[BatchSummary]) -> None:
        # The job's thread wrote `kept` before its end was delivered here, so it is complete.
        if kept:
            self.stopped.emit(kept[0])

    def _export(self, context: JobContext, job: BatchJob, kept: list[BatchSummary]) -> BatchSummary:
        from vit_studio.engine.predictions_csv import image_entries, write_predictions_csv

        written = [0]  # rows on disk, as the engine last reported

        def progress(done: int, total: int) -> None:
            written[0] = done
            context.report(self.progress.emit, done, total)

        try:
            summary = write_predictions_csv(
                job.output,
                self._model.get(job.model_path, job.device),
                image_entries(job.files),
                top_k=job.top_k,
                batch_size=job.batch_size,
                progress=progress,
                cancelled=context.cancelled,
            )
        except Cancelled:
            # A cancel lands between batches: the file holds the rows `progress` last reported.
            kept.append(BatchSummary(job.output, written[0], 0, len(job.files)))
            raise
        finished = BatchSummary(job.output, summary.rows, summary.failures, summary.total)
        if context.cancelled():
            kept.append(finished)  # cancelled during the last batch: `finished` will be dropped
        return finished
