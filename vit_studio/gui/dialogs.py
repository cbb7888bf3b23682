"""The explorer's file dialogs: where each one starts and the name it suggests. Each returns the
path the user chose, or None for Cancel; what is done with it is the caller's business."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from vit_studio.engine.images import IMAGE_EXTENSIONS
from vit_studio.engine.locations import MODEL_SUFFIXES
from vit_studio.gui.settings import Settings


def dialog_filter(label: str, suffixes: Iterable[str]) -> str:
    """A file-dialog filter for `suffixes`, with All files as the fallback."""
    return f"{label} ({' '.join('*' + s for s in suffixes)});;All files (*)"


class FileDialogs:
    """Asks for files and folders over `parent`, starting where the user last was."""

    def __init__(self, parent: QWidget, settings: Settings) -> None:
        self._parent = parent
        self._settings = settings

    def image(self) -> Path | None:
        return self._open("Open Image", dialog_filter("Images", IMAGE_EXTENSIONS))

    def folder(self, title: str = "Open Folder") -> Path | None:
        chosen = QFileDialog.getExistingDirectory(self._parent, title, self._start_folder())
        return Path(chosen) if chosen else None

    def model(self) -> Path | None:
        return self._open(
            "Open Model", dialog_filter("ViT checkpoints", (*MODEL_SUFFIXES, ".json"))
        )

    def checkpoint(self) -> Path | None:
        """A fine-tune run's checkpoint, starting in the folder runs are kept in."""
        # With the training pipeline, which the window does not load before it is used.
        from vit_studio.engine.training.progress import CHECKPOINT_SUFFIX

        runs = self._settings.finetune_runs_dir
        chosen, _ = QFileDialog.getOpenFileName(
            self._parent,
            "Resume a Fine-tune Run",
            str(runs if runs.is_dir() else Path.home()),
            dialog_filter("Training checkpoints", (CHECKPOINT_SUFFIX,)),
        )
        return Path(chosen) if chosen else None

    def save(self, title: str, name: str, file_filter: str) -> Path | None:
        """Where to save a file suggested as `name` in the last folder."""
        suggested = str(Path(self._start_folder()) / name)
        chosen, _ = QFileDialog.getSaveFileName(self._parent, title, suggested, file_filter)
        return Path(chosen) if chosen else None

    def _open(self, title: str, file_filter: str) -> Path | None:
        chosen, _ = QFileDialog.getOpenFileName(
            self._parent, title, self._start_folder(), file_filter
        )
        return Path(chosen) if chosen else None

    def _start_folder(self) -> str:
        folder = self._settings.last_folder
        return str(folder) if folder is not None and folder.is_dir() else str(Path.home())
