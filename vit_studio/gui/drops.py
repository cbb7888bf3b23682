"""What a drop on the explorer opens: a model, a folder, or images (several make a filmstrip),
sorted out of whatever files were dropped, with a message when none of them can be opened; and
`FileDropTarget`, what makes a widget take drops of local files."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QMimeData
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from vit_studio.engine.images import IMAGE_EXTENSIONS, is_image_path
from vit_studio.engine.locations import MODEL_SUFFIXES, is_model_path


@dataclass(frozen=True)
class Dropped:
    """The first model and the first folder dropped, the images (sorted), and `problem`, the
    message to show when there is nothing to open ('' otherwise)."""

    model: Path | None = None
    folder: Path | None = None
    images: list[Path] = field(default_factory=list)
    problem: str = ""


def sort_dropped(paths: Iterable[Path]) -> Dropped:
    paths = [Path(p) for p in paths]
    models = [p for p in paths if is_model_path(p)]
    folders = [p for p in paths if p.is_dir() and p not in models]
    images = sorted(p for p in paths if p.is_file() and is_image_path(p))
    problem = ""
    if not (models or folders or images):
        names = ", ".join(p.name for p in paths[:3]) or "nothing"
        problem = (
            f"{names}: not an image, a folder or a model; drop {', '.join(IMAGE_EXTENSIONS)} "
            f"files, a folder of them, or a {', '.join(MODEL_SUFFIXES)} model"
        )
    return Dropped(models[0] if models else None, folders[0] if folders else None, images, problem)


def local_paths(mime: QMimeData) -> list[Path]:
    """The local files a drag carries (web addresses are not opened)."""
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


class FileDropTarget:
    """Mixed into a QWidget (before it), hands the local files dropped on it to its
    `open_paths(paths)`; the widget still has to `setAcceptDrops(True)`."""

    def open_paths(self, paths: list[Path]) -> None:
        raise NotImplementedError

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        if paths := local_paths(event.mimeData()):
            event.acceptProposedAction()
            self.open_paths(paths)
