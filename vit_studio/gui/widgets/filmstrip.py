"""A folder as a strip of thumbnails; the arrow keys (or a click) move to another image.

The strip only lists files; thumbnails arrive later from its own thumbnail thread
(`workers.thumbnails`), so a folder of thousands of photos opens at once.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
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
        self._thumbnails.load(self._paths, THUMBNAIL_SIZE)

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
            item.setIcon(QIcon(QPixmap.fromImage(image)))

    def step(self, delta: int) -> None:
        """Move `delta` images along (as the arrow keys do), emitting `imageChosen`."""
        if self._paths:
            row = min(max(self.currentRow() + delta, 0), len(self._paths) - 1)
            self.setCurrentRow(row)

    def _on_current_row(self, row: int) -> None:
        if 0 <= row < len(self._paths):
            self.imageChosen.emit(self._paths[row])
