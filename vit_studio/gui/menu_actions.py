"""What each menu item of the explorer does: the menus (`menus.Menus`) only emit, the file dialogs
(`dialogs.FileDialogs`) only ask, and this wires the one to the other and to the window."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from vit_studio.gui.dialogs import FileDialogs
from vit_studio.gui.menus import Menus
from vit_studio.gui.state.explorer import ExplorerState


class MainWindow(Protocol):
    """What the menus ask of the window (`main_window.MainWindow`)."""

    state: ExplorerState
    image_view: Any  # widgets.image_view.ImageView
    filmstrip: Any  # widgets.filmstrip.Filmstrip

    def close(self) -> bool: ...
    def open_image(self, path: Path) -> None: ...
    def open_folder(self, folder: Path) -> None: ...
    def load_model(self, path: Path, num_heads: int | None = None) -> None: ...
    def set_device(self, device: str) -> None: ...
    def step_image(self, delta: int) -> None: ...
    def show_view(self, view: str) -> None: ...
    def export_view_png(self, path: Path) -> None: ...
    def export_analysis(self, path: Path) -> None: ...
    def export_folder_csv(self, path: Path) -> None: ...
    def finetune_folder(self, folder: Path) -> None: ...
    def resume_finetune(self, checkpoint: Path) -> None: ...
    def show_pretrained(self) -> None: ...
    def get_pretrained(self, entry: Any) -> None: ...
    def set_full_screen(self, full: bool) -> None: ...
    def set_split(self, split: bool) -> None: ...
    def show_shortcuts(self) -> None: ...


def connect_menus(window: MainWindow, menus: Menus, dialogs: FileDialogs) -> None:
    """Every menu action to what it does, asking for a path first where it needs one."""

    def asking(ask: Callable[[], Path | None], then: Callable[[Path], None]):
        return lambda: (path := ask()) is not None and then(path)

    menus.open_image.triggered.connect(asking(dialogs.image, window.open_image))
    menus.open_folder.triggered.connect(asking(dialogs.folder, window.open_folder))
    menus.open_model.triggered.connect(asking(dialogs.model, window.load_model))
    menus.open_model_folder.triggered.connect(
        asking(lambda: dialogs.folder("Open Model Folder"), window.load_model)
    )
    menus.export_view.triggered.connect(
        asking(lambda: dialogs.save("Export View", _suggested(window, ".png"),
                                    "PNG images (*.png)"), window.export_view_png)  # fmt: skip
    )
    for action, kind in ((menus.export_json, "json"), (menus.export_npz, "npz")):
        title, kinds = f"Export Analysis as {kind.upper()}", f"{kind.upper()} files (*.{kind})"
        action.triggered.connect(asking(
            lambda t=title, k=kind, f=kinds: dialogs.save(t, _suggested(window, f".{k}"), f),
            window.export_analysis,
        ))  # fmt: skip
    menus.export_csv.triggered.connect(
        asking(lambda: dialogs.save("Export Folder Predictions", _csv_name(window),
                                    "CSV files (*.csv)"), window.export_folder_csv)  # fmt: skip
    )
    menus.finetune_folder.triggered.connect(
        asking(lambda: dialogs.folder("Folder to Fine-tune On"), window.finetune_folder)
    )
    menus.resume_finetune.triggered.connect(asking(dialogs.checkpoint, window.resume_finetune))
    menus.show_finetune.triggered.connect(lambda: window.show_view("finetune"))
    menus.quit.triggered.connect(window.close)
    menus.next_image.triggered.connect(lambda: window.step_image(1))
    menus.previous_image.triggered.connect(lambda: window.step_image(-1))
    menus.grid.triggered.connect(window.image_view.set_grid_visible)
    menus.fileChosen.connect(window.open_image)
    menus.modelChosen.connect(window.load_model)
    menus.deviceChosen.connect(window.set_device)
    menus.get_pretrained.triggered.connect(window.show_pretrained)
    menus.pretrainedChosen.connect(window.get_pretrained)
    menus.full_screen.triggered.connect(window.set_full_screen)
    menus.split_view.triggered.connect(window.set_split)
    menus.keyboard_shortcuts.triggered.connect(window.show_shortcuts)


def _suggested(window: MainWindow, suffix: str) -> str:
    result = window.state.result
    return f"{result.path.stem if result else 'vit-studio'}{suffix}"


def _csv_name(window: MainWindow) -> str:
    files = window.filmstrip.paths()
    return f"{files[0].parent.name if files else 'predictions'}-predictions.csv"
