"""Filmstrip previews, decoded in a thread of its own; a new folder supersedes the previous one.

Pillow rather than QImageReader: Pillow releases the GIL while it decodes, Qt's reader does not,
and a large PNG takes long enough to stall the GUI. `draft` lets JPEGs decode at a fraction of
their size. A QImage (unlike a QPixmap) may be made off the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageOps
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from vit_studio.engine.images import to_rgb
from vit_studio.gui import imaging
from vit_studio.gui.workers.thread import JobContext, WorkerThread

THUMBNAILS = "thumbnails"


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
    """The GUI's handle on the thumbnail thread."""

    thumbnailReady = Signal(int, QImage)  # row, image (null: unreadable)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = WorkerThread("thumbnails", self)

    def load(self, paths: list[Path], size: int) -> None:
        """Previews of `paths`, row by row; a call supersedes the rows not yet delivered."""
        paths = list(paths)

        def decode(context: JobContext) -> None:
            for row, path in enumerate(paths):
                if context.cancelled():
                    return
                context.report(self.thumbnailReady.emit, row, thumbnail(path, size))

        self._thread.submit(THUMBNAILS, decode, doing="making thumbnails")

    def stop(self, timeout_ms: int = 5000) -> bool:
        return self._thread.stop(timeout_ms)
