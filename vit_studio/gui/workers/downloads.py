"""Pretrained-model downloads in a thread of their own, so the window stays live over a
gigabyte; one at a time, cancellable, resumed by the engine from the partial file next time."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from vit_studio.engine.hub import CatalogueEntry, download
from vit_studio.gui.workers.thread import JobContext, WorkerThread

DOWNLOAD = "download"


@dataclass(frozen=True)
class DownloadProgress:
    """How far a download is, for the progress bar."""

    entry: CatalogueEntry
    done: int  # bytes on disk, with those an earlier try left
    total: int  # bytes of all its files (0 while unknown)
    bytes_per_s: float  # over this try only: what was already there costs no time

    def text(self) -> str:
        size = f"{_mb(self.done)} of {_mb(self.total)}" if self.total else _mb(self.done)
        speed = f"{_mb(self.bytes_per_s)}/s" if self.bytes_per_s > 0 else "starting"
        return f"{self.entry.title}: {size} · {speed}"


class DownloadClient(QObject):
    """The GUI's handle on the download thread."""

    progress = Signal(DownloadProgress)
    finished = Signal(CatalogueEntry, Path)  # the entry and what load_model opens
    failed = Signal(str)  # one line: no network, a failed check, a full disk…
    runningChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = WorkerThread("downloads", self)
        self._thread.busyChanged.connect(self.runningChanged)
        self._entry: CatalogueEntry | None = None

    @property
    def running(self) -> bool:
        return self._thread.busy

    @property
    def entry(self) -> CatalogueEntry | None:
        """The entry being downloaded (or last asked for)."""
        return self._entry

    def start(self, entry: CatalogueEntry) -> None:
        """Download `entry` (a no-op download when it is here already), superseding any other."""
        self._entry = entry
        self._thread.submit(
            DOWNLOAD,
            lambda context: self._download(context, entry),
            doing=f"downloading {entry.name}",
            done=lambda path: self.finished.emit(entry, path),
            failed=self.failed.emit,
        )

    def cancel(self) -> None:
        """Stop at the next chunk; the partial file stays for the next try to resume."""
        self._thread.cancel(DOWNLOAD)

    def stop(self, timeout_ms: int = 5000) -> bool:
        return self._thread.stop(timeout_ms)

    def _download(self, context: JobContext, entry: CatalogueEntry) -> Path:
        started, first = time.monotonic(), None

        def report(done: int, total: int) -> None:
            nonlocal first
            if first is None:
                first = done
            elapsed = time.monotonic() - started
            rate = (done - first) / elapsed if elapsed > 0.5 else 0.0
            context.report(self.progress.emit, DownloadProgress(entry, done, total, rate))

        return download(entry, progress=report, cancel=context.cancelled)


def _mb(size: float) -> str:
    return f"{size / 1e6:,.1f} MB"
