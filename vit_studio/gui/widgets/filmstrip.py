"""A folder as a strip of thumbnails; the arrow keys (or a click) move to another image.

The strip only lists files; thumbnails arrive later from its own thumbnail thread
(`workers.thumbnails`), so a folder of thousands of photos opens at once. They are decoded at
the screen's device pixel ratio, so they are sharp on a high-DPI screen, and again when the
window moves to a screen with another ratio.
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QListWidget, QListWidgetItem, QWidget

from vit_studio.engine.errors import StudioError
from vit_studio.engine.images import IMAGE_EXTENSIONS, image_files_in
from vit_studio.gui.workers.thumbnails import ThumbnailLoader

THUMBNAIL_SIZE = 72


def folder_images(folder: Path) -> list[Path]:
    """`image_files_in(folder)`, or a `StudioError` saying why there is nothing to show."""
    try:
        files = image_files_in(folder)
    except OSError as exc:
        reason = exc.strerror or exc
        raise StudioError(f"{folder}: cannot list it ({reason}); check the path") from exc
    if not files:
        raise StudioError(
            f"{folder}: no images directly inside it; choose a folder that holds "
            f"{', '.join(IMAGE_EXTENSIONS)} files"
        )
    return files


def _placeholder(colour: QColor) -> QIcon:
    pixmap = QPixmap(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
    pixmap.fill(colour)
    return QIcon(pixmap)


class Filmstrip(QListWidget):
    """Thumbnails of image files in one row. `imageChosen(path)` when the user moves to one."""

    imageChosen = Signal(Path)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._paths: list[Path] = []
        self._ratio = 1.0  # the device pixel ratio the thumbnails were asked for at
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.setGridSize(QSize(THUMBNAIL_SIZE + 24, THUMBNAIL_SIZE + 28))
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumHeight(THUMBNAIL_SIZE + 48)
        self.setToolTip("Images of the open folder: click one, or use the arrow keys")
        self._loading = _placeholder(self.palette().mid().color())
        self._broken = _placeholder(QColor(160, 60, 60))
        self.currentRowChanged.connect(self._on_current_row)
        self._thumbnails = ThumbnailLoader(self)
        self._thumbnails.thumbnailReady.connect(self.set_thumbnail)

    def sizeHint(self) -> QSize:
        # One row of thumbnails: the dock should not take the height from the image.
        return QSize(600, THUMBNAIL_SIZE + 48)

    def paths(self) -> list[Path]:
        return list(self._paths)

    def pixel_ratio(self) -> float:
        """Device pixels per logical pixel where the strip is shown (2 on most Retina screens)."""
        return self.devicePixelRatioF()

    def set_paths(self, paths: list[Path], current: Path | None = None) -> None:
        """Show `paths`, their thumbnails as they come; select `current` without emitting."""
        self.blockSignals(True)
        self.clear()
        self._paths = list(paths)
        for path in self._paths:
            item = QListWidgetItem(self._loading, path.name)
            item.setToolTip(str(path))
            self.addItem(item)
        self.blockSignals(False)
        self.set_current(current)
        self._load_thumbnails()

    def show_image(self, path: Path) -> None:
        """Select `path`, showing the images beside it first if the strip does not hold it (so
        the arrow keys can walk its folder)."""
        if path in self._paths:
            self.set_current(path)
            return
        try:
            files = image_files_in(path.parent)
        except OSError:
            files = []
        self.set_paths(files if path in files else [path], path)

    def stop(self, timeout_ms: int = 5000) -> bool:
        """Stop the thumbnail thread."""
        return self._thumbnails.stop(timeout_ms)

    def set_current(self, path: Path | None) -> None:
        """Select `path` if it is in the strip (else nothing), without emitting."""
        row = self._paths.index(path) if path in self._paths else -1
        self.blockSignals(True)
        self.setCurrentRow(row)
        self.blockSignals(False)
        if row >= 0:
            self.scrollToItem(self.item(row))

    def set_thumbnail(self, row: int, image: QImage) -> None:
        item = self.item(row)
        if item is None:
            return
        if image.isNull():
            item.setIcon(self._broken)
            item.setToolTip(f"{self._paths[row]}\nThis file cannot be read as an image.")
        else:
            pixmap = QPixmap.fromImage(image)
            # As many device pixels as the picture has, up to the screen's ratio: a large photo
            # is sharp, a small one keeps the size it had at ratio 1 rather than shrinking.
            longest = max(image.width(), image.height())
            pixmap.setDevicePixelRatio(min(self._ratio, max(1.0, longest / THUMBNAIL_SIZE)))
            item.setIcon(QIcon(pixmap))

    def step(self, delta: int) -> None:
        """Move `delta` images along (as the arrow keys do), emitting `imageChosen`."""
        if self._paths:
            row = min(max(self.currentRow() + delta, 0), len(self._paths) - 1)
            self.setCurrentRow(row)

    def event(self, event: QEvent) -> bool:
        moved = event.type() == QEvent.Type.DevicePixelRatioChange
        if moved and self._paths and self.pixel_ratio() != self._ratio:
            self._load_thumbnails()
        return super().event(event)

    def _load_thumbnails(self) -> None:
        self._ratio = self.pixel_ratio()
        self._thumbnails.load(self._paths, math.ceil(THUMBNAIL_SIZE * self._ratio))

    def _on_current_row(self, row: int) -> None:
        if 0 <= row < len(self._paths):
            self.imageChosen.emit(self._paths[row])
