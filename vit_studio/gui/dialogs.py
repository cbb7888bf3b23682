"""The explorer's file dialogs: where each one starts, the name it suggests, and which window
method takes the answer (Cancel does nothing). Also which files the window takes for models."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog

from vit_studio.engine.images import IMAGE_EXTENSIONS
from vit_studio.gui.settings import Settings

if TYPE_CHECKING:
    from vit_studio.gui.main_window import MainWindow

MODEL_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")


def is_model_path(path: Path) -> bool:
    """A checkpoint file, or a Hugging Face / timm model folder (it holds config.json)."""
    if path.is_dir():
        return (path / "config.json").is_file()
    return path.suffix.lower() in MODEL_SUFFIXES


def dialog_filter(label: str, suffixes: Iterable[str]) -> str:
    """A file-dialog filter for `suffixes`, with All files as the fallback."""
    return f"{label} ({' '.join('*' + s for s in suffixes)});;All files (*)"


class FileDialogs:
    """Asks for files and folders on behalf of `window`, through its public methods only."""

    def __init__(self, window: MainWindow, settings: Settings) -> None:
        self._window = window
        self._settings = settings

    def open_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self._window,
            "Open Image",
            self._start_folder(),
            dialog_filter("Images", IMAGE_EXTENSIONS),
        )
        if path:
            self._window.open_image(path)

    def open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self._window, "Open Folder", self._start_folder())
        if folder:
            self._window.open_folder(folder)

    def open_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self._window,
            "Open Model",
            self._start_folder(),
            dialog_filter("ViT checkpoints", (*MODEL_SUFFIXES, ".json")),
        )
        if path:
            self._window.load_model(path)

    def open_model_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self._window, "Open Model Folder", self._start_folder()
        )
        if folder:
            self._window.load_model(folder)

    def finetune_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self._window, "Folder to Fine-tune On", self._start_folder()
        )
        if folder:
            self._window.finetune_folder(folder)

    def resume_finetune(self) -> None:
        runs = self._settings.finetune_runs_dir
        path, _ = QFileDialog.getOpenFileName(
            self._window,
            "Resume a Fine-tune Run",
            str(runs if runs.is_dir() else Path.home()),
            "Training checkpoints (*.checkpoint.pt);;All files (*)",
        )
        if path:
            self._window.show_view("finetune")
            self._window.finetune_panel.resume_checkpoint(path)

    def export_view(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self._window, "Export View", self._suggested(".png"), "PNG images (*.png)"
        )
        if path:
            self._window.export_view_png(path)

    def export_analysis(self, kind: str) -> None:
        """`kind`: 'json' or 'npz'."""
        path, _ = QFileDialog.getSaveFileName(
            self._window,
            f"Export Analysis as {kind.upper()}",
            self._suggested(f".{kind}"),
            f"{kind.upper()} files (*.{kind})",
        )
        if path:
            self._window.export_analysis(path)

    def export_folder_csv(self) -> None:
        files = self._window.filmstrip.paths()
        folder = files[0].parent if files else None
        name = f"{folder.name if folder else 'predictions'}-predictions.csv"
        path, _ = QFileDialog.getSaveFileName(
            self._window,
            "Export Folder Predictions",
            str(Path(self._start_folder()) / name),
            "CSV files (*.csv)",
        )
        if path:
            self._window.export_folder_csv(path)

    def _start_folder(self) -> str:
        folder = self._settings.last_folder
        return str(folder) if folder is not None and folder.is_dir() else str(Path.home())

    def _suggested(self, suffix: str) -> str:
        result = self._window.result
        stem = result.path.stem if result else "vit-studio"
        return str(Path(self._start_folder()) / f"{stem}{suffix}")
