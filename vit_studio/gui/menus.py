"""The explorer's commands: its actions, menu bar and toolbar (with the device chooser), and the
menus that list files (recent images, recent models, samples, models found on this computer)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSignalBlocker, QUrl
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QComboBox, QDockWidget, QLabel, QMenu, QMessageBox, QWidget

from vit_studio import __version__
from vit_studio.engine.checkpoints.discovery import LocalModel
from vit_studio.engine.resources import SAMPLES_DIR
from vit_studio.gui.dialogs import FileDialogs
from vit_studio.gui.settings import Settings
from vit_studio.gui.widgets.filmstrip import image_files_in

if TYPE_CHECKING:
    from vit_studio.gui.main_window import MainWindow

DEVICE_LABELS = {"auto": "Auto", "cpu": "CPU", "cuda": "CUDA", "mps": "Apple MPS"}


class Menus:
    """Builds the actions, menus and toolbar of `window`, which they drive through its public
    methods and `dialogs`; `docks` get a show/hide entry in the View menu."""

    def __init__(
        self,
        window: MainWindow,
        settings: Settings,
        dialogs: FileDialogs,
        docks: Iterable[QDockWidget],
    ) -> None:
        self._window = window
        self._settings = settings
        self._build_actions(dialogs)
        self._build_menus(tuple(docks))
        self._build_toolbar()

    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self._window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(tip or text.replace("…", ""))
        action.setStatusTip(tip or text.replace("…", ""))
        action.triggered.connect(slot)
        return action

    def _build_actions(self, dialogs: FileDialogs) -> None:
        window = self._window
        self._open_image_action = self._action(
            "&Open Image…",
            dialogs.open_image,
            QKeySequence.StandardKey.Open,
            "Open an image file and analyse it",
        )
        self._open_folder_action = self._action(
            "Open &Folder…",
            dialogs.open_folder,
            "Ctrl+Shift+O",
            "Open a folder of images as a filmstrip (arrow keys move between them)",
        )
        self._open_model_action = self._action(
            "Open &Model…",
            dialogs.open_model,
            "Ctrl+M",
            "Open a ViT Studio .safetensors, a torchvision or timm checkpoint",
        )
        self._open_model_folder_action = self._action(
            "Open Model &Folder…",
            dialogs.open_model_folder,
            None,
            "Open a Hugging Face or timm model folder (it holds config.json)",
        )
        self._export_view_action = self._action(
            "Export View as &PNG…",
            dialogs.export_view,
            QKeySequence.StandardKey.Save,
            "Save the image with its overlay and the visible view as a PNG",
        )
        self._export_json_action = self._action(
            "Export Analysis as &JSON…",
            lambda: dialogs.export_analysis("json"),
            "Ctrl+Shift+S",
            "Save predictions, timings, view settings and the shown map as JSON",
        )
        self._export_npz_action = self._action(
            "Export Analysis as &NPZ…",
            lambda: dialogs.export_analysis("npz"),
            None,
            "Save every array of the analysis (attentions, rollout, embeddings…) as NPZ",
        )
        self._export_csv_action = self._action(
            "Export Folder Predictions as &CSV…",
            dialogs.export_folder_csv,
            None,
            "Classify every image of the open folder in the background and save the top-5 "
            "predictions as CSV",
        )
        self._quit_action = self._action(
            "&Quit", window.close, QKeySequence.StandardKey.Quit, "Close ViT Studio"
        )
        self._next_action = self._action(
            "&Next Image",
            lambda: window.step_image(1),
            "Ctrl+Right",
            "Show the next image of the folder",
        )
        self._previous_action = self._action(
            "&Previous Image",
            lambda: window.step_image(-1),
            "Ctrl+Left",
            "Show the previous image of the folder",
        )
        self.grid_action = self._action(
            "Patch &Grid",
            window.image_view.set_grid_visible,
            "G",
            "Show or hide the patch grid on the image",
        )
        self.grid_action.setCheckable(True)
        self._finetune_folder_action = self._action(
            "Choose &Folder…",
            dialogs.finetune_folder,
            "Ctrl+T",
            "Fine-tune a model on a folder with one subfolder of images per class",
        )
        self._finetune_resume_action = self._action(
            "&Resume a Run…",
            dialogs.resume_finetune,
            None,
            "Continue a cancelled or interrupted fine-tune from its .checkpoint.pt file",
        )
        self._finetune_show_action = self._action(
            "Show Fine-tune &Panel",
            lambda: window.show_view("finetune"),
            None,
            "Bring the fine-tune panel to the front",
        )
        self._about_action = self._action(
            "&About ViT Studio",
            lambda: _show_about(window),
            None,
            "Version and what the views show",
        )

    def _build_menus(self, docks: tuple[QDockWidget, ...]) -> None:
        bar = self._window.menuBar()
        menu = bar.addMenu("&File")
        menu.addAction(self._open_image_action)
        menu.addAction(self._open_folder_action)
        self.recent_menu = menu.addMenu("Open &Recent")
        self.recent_menu.setToolTipsVisible(True)
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        self.samples_menu = menu.addMenu("&Samples")
        self.samples_menu.setToolTipsVisible(True)
        self.samples_menu.aboutToShow.connect(self.fill_samples_menu)
        menu.addSeparator()
        for action in (
            self._export_view_action,
            self._export_json_action,
            self._export_npz_action,
            self._export_csv_action,
        ):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self._quit_action)

        menu = bar.addMenu("&Model")
        menu.addAction(self._open_model_action)
        menu.addAction(self._open_model_folder_action)
        self._recent_models_menu = menu.addMenu("&Recent Models")
        self._recent_models_menu.aboutToShow.connect(self.fill_recent_models_menu)
        self._local_models_menu = menu.addMenu("Models on This &Computer")
        self._local_models_menu.setToolTipsVisible(True)
        self._local_models_menu.addAction("Looking…").setEnabled(False)

        menu = bar.addMenu("Fine-&tune")
        menu.addAction(self._finetune_folder_action)
        menu.addAction(self._finetune_resume_action)
        menu.addSeparator()
        menu.addAction(self._finetune_show_action)

        menu = bar.addMenu("&View")
        menu.addAction(self._next_action)
        menu.addAction(self._previous_action)
        menu.addAction(self.grid_action)
        menu.addSeparator()
        for dock in docks:
            menu.addAction(dock.toggleViewAction())

        menu = bar.addMenu("&Help")
        menu.addAction(self._about_action)

    def _build_toolbar(self) -> None:
        window = self._window
        toolbar = window.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.addAction(self._open_image_action)
        toolbar.addAction(self._open_folder_action)
        toolbar.addAction(self._open_model_action)
        toolbar.addSeparator()
        chooser = self.device_chooser = QComboBox()
        chooser.setToolTip(
            "Where the model runs. Auto picks a CUDA GPU when there is one, else the CPU."
        )
        chooser.addItem(DEVICE_LABELS["auto"], "auto")
        device_label = QLabel(" Device ")
        device_label.setToolTip(chooser.toolTip())
        toolbar.addWidget(device_label)
        toolbar.addWidget(chooser)
        toolbar.addSeparator()
        toolbar.addAction(self._export_view_action)
        chooser.activated.connect(lambda _row: window.set_device(chooser.currentData()))

    # --- state --------------------------------------------------------------------------------

    def update_enabled(self, *, has_analysis: bool, can_export_folder: bool) -> None:
        for action in (self._export_json_action, self._export_npz_action):
            action.setEnabled(has_analysis)
        self._export_csv_action.setEnabled(can_export_folder)

    def show_devices(self, devices: list[str]) -> None:
        """Offer `devices` ('auto', 'cpu', 'cuda', ...) in the toolbar; `select_device` then
        shows the one in use."""
        with QSignalBlocker(self.device_chooser):
            self.device_chooser.clear()
            for name in devices:
                self.device_chooser.addItem(DEVICE_LABELS.get(name, name), name)

    def select_device(self, device: str) -> None:
        """Show `device` as chosen, without choosing it (the window already has)."""
        row = self.device_chooser.findData(device)
        if row >= 0:
            with QSignalBlocker(self.device_chooser):
                self.device_chooser.setCurrentIndex(row)

    def show_local_models(self, models: list[LocalModel]) -> None:
        menu = self._local_models_menu
        menu.clear()
        for model in models:
            action = menu.addAction(f"{model.name} ({model.source})")
            action.setToolTip(str(model.path))
            action.triggered.connect(lambda _=False, p=model.path: self._window.load_model(p))
        if not models:
            menu.addAction("None found").setEnabled(False)

    # --- menus of files, filled as they open --------------------------------------------------

    def fill_recent_menu(self) -> None:
        _fill_path_menu(self.recent_menu, self._settings.recent_files, self._window.open_image)

    def fill_recent_models_menu(self) -> None:
        _fill_path_menu(
            self._recent_models_menu, self._settings.recent_models, self._window.load_model
        )

    def fill_samples_menu(self) -> None:
        menu = self.samples_menu
        samples = image_files_in(SAMPLES_DIR) if SAMPLES_DIR.is_dir() else []
        _fill_path_menu(menu, samples, self._window.open_image)
        if samples:
            menu.addSeparator()
            menu.addAction("Open All Samples as a Folder").triggered.connect(
                lambda: self._window.open_folder(SAMPLES_DIR)
            )
            licence = SAMPLES_DIR / "LICENSES.md"
            if licence.is_file():
                menu.addAction("Sample Photo Credits…").triggered.connect(
                    lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(licence)))
                )


def _fill_path_menu(menu: QMenu, paths: list[Path], open_path: Callable[[Path], None]) -> None:
    menu.clear()
    existing = [p for p in paths if p.exists()]
    for path in existing:
        action = menu.addAction(path.name + ("/" if path.is_dir() else ""))
        action.setToolTip(str(path))
        action.triggered.connect(lambda _=False, p=path: open_path(p))
    if not existing:
        menu.addAction("None yet").setEnabled(False)


def _show_about(parent: QWidget) -> None:
    QMessageBox.about(
        parent,
        "About ViT Studio",
        f"<b>ViT Studio {__version__}</b><p>Look inside Vision Transformers: predictions, "
        "class-token attention per head, attention rollout (Abnar &amp; Zuidema 2020), "
        "class-specific rollout (Chefer et al. 2021), position-embedding similarity and "
        "mean attention distance (Dosovitskiy et al. 2021, Figure 7).</p>",
    )
