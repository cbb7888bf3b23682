"""The explorer's exports: the view as PNG, the analysis as JSON or NPZ (`state.export`), and
the top-5 predictions of the folder's images as CSV, made in the export thread with progress in
the status bar and a Cancel that keeps the rows finished so far.

The PNG and the analysis are taken on the GUI thread (a grab of the widgets, the arrays shown)
and written in a thread of their own: encoding a window-sized PNG and flushing a file to the disk
took the GUI thread 100 ms and more. A folder CSV, which takes minutes, has its own thread, so
these never wait behind it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QPointF, QSizeF, Signal
from PySide6.QtGui import QImage, QPainter, QPixmap
from PySide6.QtWidgets import QWidget

from vit_studio.engine.analysis import TOP_K
from vit_studio.engine.errors import StudioError
from vit_studio.engine.fileio import atomic_path
from vit_studio.engine.text import counted
from vit_studio.gui.state import export
from vit_studio.gui.state.explorer import ExplorerState
from vit_studio.gui.widgets.status_bar import StatusBar
from vit_studio.gui.workers.batch_export import BatchExporter, BatchJob, BatchSummary
from vit_studio.gui.workers.thread import WorkerThread


def save_png(picture: QPixmap | QImage, path: Path) -> None:
    """`picture` as a PNG at `path`, atomically and durably (Qt's own save writes in place)."""
    with atomic_path(path, "the PNG") as tmp:
        if not picture.save(str(tmp), "PNG"):
            raise StudioError(f"{path}: could not write the PNG; choose a folder you can write to")


class Exports(QObject):
    """Writes what `state` shows; `written(path, message)` when a file is done, `failed(message)`
    when one cannot be, `message(text)` for progress worth a line in the status bar."""

    written = Signal(Path, str)
    failed = Signal(str)
    message = Signal(str)

    def __init__(
        self,
        state: ExplorerState,
        status: StatusBar,
        folder: Callable[[], list[Path]],
        parent: QObject | None = None,
        num_threads: int | None = None,
    ) -> None:
        """`folder()` gives the images a folder export covers (the filmstrip's)."""
        super().__init__(parent)
        self._state = state
        self._status = status
        self._folder = folder
        self._writer = WorkerThread("file exports", self)
        self.exporter = BatchExporter(self, num_threads)
        self.exporter.progress.connect(status.show_export_progress)
        self.exporter.runningChanged.connect(status.set_export_running)
        self.exporter.finished.connect(self._folder_written)
        self.exporter.stopped.connect(self._folder_stopped)
        self.exporter.failed.connect(self.failed)
        status.cancelExportRequested.connect(self.cancel_folder)

    def view_png(self, path: Path, left: QWidget, right: QWidget, background) -> None:
        """`left` and `right` (the image and the visible view) side by side, as a PNG, at the
        screen's device pixels (what the image view shows: photo or model input, blocky or
        smooth map)."""
        first, second = left.grab(), right.grab()
        # Grabs come at the device pixel ratio; painting in logical units keeps them unscaled.
        ratio = first.devicePixelRatio()
        offset = first.deviceIndependentSize().width()
        size = QSizeF(offset + second.deviceIndependentSize().width(),
                      max(first.deviceIndependentSize().height(),
                          second.deviceIndependentSize().height()))  # fmt: skip
        picture = QPixmap((size * ratio).toSize())
        picture.setDevicePixelRatio(ratio)
        picture.fill(background)
        painter = QPainter(picture)
        painter.drawPixmap(QPointF(0, 0), first)
        painter.drawPixmap(QPointF(offset, 0), second)
        painter.end()
        image = picture.toImage()  # a QImage may be saved in another thread; a QPixmap not
        self._write(path, lambda: save_png(image, path))

    def analysis(self, path: Path) -> None:
        """The analysis as JSON or NPZ, chosen by the file's suffix."""
        try:
            write = export.analysis_writer(path, self._state)
        except StudioError as exc:
            self.failed.emit(str(exc))
            return
        self._write(path, write)

    def _write(self, path: Path, write: Callable[[], None]) -> None:
        # One kind per file: a second export to the same file supersedes the first.
        self._writer.submit(str(path), lambda _context: write(), doing=f"writing {path}",
                            done=lambda _none: self.written.emit(path, f"Saved {path}"),
                            failed=self.failed.emit)  # fmt: skip

    def folder_csv(self, path: Path) -> None:
        """The top-5 predictions of every image of the folder, in the export thread."""
        files, model = self._folder(), self._state.model
        if model is None or not files:
            self.failed.emit("open a model and a folder of images before exporting predictions")
            return
        job = BatchJob(model.path, self._state.device, tuple(files), path, TOP_K)
        self.exporter.start(job)
        self._status.show_export_progress(0, len(files))
        self.message.emit(f"Exporting predictions for {counted(len(files), 'image')}…")

    def cancel_folder(self) -> None:
        if self.exporter.running:
            self.exporter.cancel()
            self.message.emit("Folder export cancelled; keeping the rows finished so far…")

    def stop(self, timeout_ms: int = 5000) -> bool:
        return all([self.exporter.stop(timeout_ms), self._writer.stop(timeout_ms)])

    def _folder_stopped(self, summary: BatchSummary) -> None:
        if summary.images == 0:
            self.message.emit(f"Folder export cancelled before its first row; {summary.output} "
                              "was not written")  # fmt: skip
            return
        self.message.emit(
            f"Folder export cancelled; kept {summary.images:,} of {summary.total:,} rows in "
            f"{summary.output}"
        )

    def _folder_written(self, summary: BatchSummary) -> None:
        failed = f", {summary.failures} unreadable" if summary.failures else ""
        images = counted(summary.images, "image")
        self.written.emit(
            summary.output, f"Wrote predictions for {images}{failed} to {summary.output}"
        )
