"""The explorer's commands: its actions, menu bar and toolbar (with the device chooser), and the
menus that list files (recent images, recent models, samples, models found on this computer).

`Menus` holds the actions as attributes and says what is picked from the menus of files through
its signals; the window connects both to what they do, so nothing here knows the window.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSignalBlocker, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import QComboBox, QDockWidget, QLabel, QMainWindow, QMenu, QMessageBox

from vit_studio import __version__
from vit_studio.engine import hub, resources
from vit_studio.engine.device import CHOICE_LABELS
from vit_studio.gui.settings import Settings

if TYPE_CHECKING:
    from vit_studio.engine.checkpoints.discovery import LocalModel


class Menus(QObject):
    """The actions, menus and toolbar of `window`; `docks` get a show/hide entry under View.

    Signals: `fileChosen(path)` for a recent image or folder, a sample or the samples folder;
    `modelChosen(path)` for a recent or local model; `pretrainedChosen(entry)` for a catalogued
    one; `deviceChosen(name)` from the toolbar.
    """

    fileChosen = Signal(Path)
    modelChosen = Signal(Path)
    pretrainedChosen = Signal(object)  # a hub.CatalogueEntry: open it, or get it first
    deviceChosen = Signal(str)

    def __init__(
        self, window: QMainWindow, settings: Settings, docks: Iterable[QDockWidget]
    ) -> None:
        super().__init__(window)
        self._window = window
        self._settings = settings
        self._build_actions()
        self._build_menus(tuple(docks))
        self._build_toolbar()

    def _action(self, text: str, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self._window)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setToolTip(tip or text.replace("…", ""))
        action.setStatusTip(tip or text.replace("…", ""))
        return action

    def _build_actions(self) -> None:
        keys = QKeySequence.StandardKey
        self.open_image = self._action(
            "&Open Image…", keys.Open, "Open an image file and analyse it"
        )
        self.open_folder = self._action(
            "Open &Folder…", "Ctrl+Shift+O",
            "Open a folder of images as a filmstrip (arrow keys move between them)",
        )  # fmt: skip
        self.open_model = self._action(
            "Open &Model…", "Ctrl+M",
            "Open a ViT Studio .safetensors, a torchvision or timm checkpoint",
        )  # fmt: skip
        self.open_model_folder = self._action(
            "Open Model &Folder…", None,
            "Open a Hugging Face or timm model folder (it holds config.json)",
        )  # fmt: skip
        self.get_pretrained = self._action(
            "&Get Pretrained…", None,
            "Download a pretrained ViT (torchvision, timm, Hugging Face) into the standard caches",
        )  # fmt: skip
        self.export_view = self._action(
            "Export View as &PNG…", keys.Save,
            "Save the image with its overlay and the visible view as a PNG",
        )  # fmt: skip
        self.export_json = self._action(
            "Export Analysis as &JSON…", "Ctrl+Shift+S",
            "Save predictions, timings, view settings and the shown map as JSON",
        )  # fmt: skip
        self.export_npz = self._action(
            "Export Analysis as &NPZ…", None,
            "Save every array of the analysis (attentions, rollout, embeddings…) as NPZ",
        )  # fmt: skip
        self.export_csv = self._action(
            "Export Folder Predictions as &CSV…", None,
            "Classify every image of the open folder in the background and save the top-5 "
            "predictions as CSV",
        )  # fmt: skip
        self.quit = self._action("&Quit", keys.Quit, "Close ViT Studio")
        self.next_image = self._action(
            "&Next Image", "Ctrl+Right", "Show the next image of the folder"
        )
        self.previous_image = self._action(
            "&Previous Image", "Ctrl+Left", "Show the previous image of the folder"
        )
        self.grid = self._action("Patch &Grid", "G", "Show or hide the patch grid on the image")
        self.grid.setCheckable(True)
        self.finetune_folder = self._action(
            "Choose &Folder…", "Ctrl+T",
            "Fine-tune a model on a folder with one subfolder of images per class",
        )  # fmt: skip
        self.resume_finetune = self._action(
            "&Resume a Run…", None,
            "Continue a cancelled or interrupted fine-tune from its .checkpoint.pt file",
        )  # fmt: skip
        self.show_finetune = self._action(
            "Show Fine-tune &Panel", None, "Bring the fine-tune panel to the front"
        )
        self.full_screen = self._action(
            "&Full Screen", None, "Give the whole screen to the window (again to leave)"
        )
        # The platform's full-screen keys, and F11 wherever they are something else.
        full_screen_keys = QKeySequence.keyBindings(keys.FullScreen)
        if QKeySequence("F11") not in full_screen_keys:
            full_screen_keys.append(QKeySequence("F11"))
        self.full_screen.setShortcuts(full_screen_keys)
        self.full_screen.setCheckable(True)
        self.split_view = self._action(
            "&Split View", "Ctrl+\\",
            "Two images side by side, each with its own controls (layer 4 against layer 12, "
            "a fine-tuned model against its base…); a patch picked in one is picked in both",
        )  # fmt: skip
        self.split_view.setCheckable(True)
        self.keyboard_shortcuts = self._action(
            "&Keyboard Shortcuts…", "Ctrl+/", "Every shortcut and mouse gesture of the window"
        )
        self.about = self._action("&About ViT Studio", None, "Version and what the views show")
        self.about.triggered.connect(self._show_about)

    def _build_menus(self, docks: tuple[QDockWidget, ...]) -> None:
        bar = self._window.menuBar()
        menu = bar.addMenu("&File")
        menu.addAction(self.open_image)
        menu.addAction(self.open_folder)
        self.recent_menu = menu.addMenu("Open &Recent")
        self.recent_menu.setToolTipsVisible(True)
        self.recent_menu.aboutToShow.connect(self.fill_recent_menu)
        self.samples_menu = menu.addMenu("&Samples")
        self.samples_menu.setToolTipsVisible(True)
        self.samples_menu.aboutToShow.connect(self.fill_samples_menu)
        menu.addSeparator()
        for action in (self.export_view, self.export_json, self.export_npz, self.export_csv):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.quit)

        menu = bar.addMenu("&Model")
        menu.addAction(self.open_model)
        menu.addAction(self.open_model_folder)
        self.recent_models_menu = menu.addMenu("&Recent Models")
        self.recent_models_menu.aboutToShow.connect(self.fill_recent_models_menu)
        self.local_models_menu = menu.addMenu("Models on This &Computer")
        self.local_models_menu.setToolTipsVisible(True)
        self.local_models_menu.addAction("Looking…").setEnabled(False)
        self.pretrained_menu = menu.addMenu("&Pretrained Models")
        self.pretrained_menu.setToolTipsVisible(True)
        self.pretrained_menu.aboutToShow.connect(self.fill_pretrained_menu)
        menu.addAction(self.get_pretrained)

        menu = bar.addMenu("Fine-&tune")
        menu.addAction(self.finetune_folder)
        menu.addAction(self.resume_finetune)
        menu.addSeparator()
        menu.addAction(self.show_finetune)

        menu = bar.addMenu("&View")
        menu.addAction(self.next_image)
        menu.addAction(self.previous_image)
        menu.addAction(self.grid)
        menu.addAction(self.full_screen)
        menu.addAction(self.split_view)
        menu.addSeparator()
        self.view_menu = menu
        for dock in docks:
            menu.addAction(dock.toggleViewAction())

        menu = bar.addMenu("&Help")
        menu.addAction(self.keyboard_shortcuts)
        menu.addSeparator()
        menu.addAction(self.about)

    def _build_toolbar(self) -> None:
        toolbar = self._window.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.addAction(self.open_image)
        toolbar.addAction(self.open_folder)
        toolbar.addAction(self.open_model)
        toolbar.addSeparator()
        chooser = self.device_chooser = QComboBox()
        chooser.setToolTip(
            "Where the model runs. Auto picks a CUDA GPU when there is one, else the CPU."
        )
        chooser.addItem(CHOICE_LABELS["auto"], "auto")
        device_label = QLabel(" Device ")
        device_label.setToolTip(chooser.toolTip())
        toolbar.addWidget(device_label)
        toolbar.addWidget(chooser)
        toolbar.addSeparator()
        toolbar.addAction(self.export_view)
        toolbar.addAction(self.split_view)
        toggle = toolbar.toggleViewAction()
        toggle.setText("&Toolbar")
        self.view_menu.addAction(toggle)
        chooser.activated.connect(lambda _row: self.deviceChosen.emit(chooser.currentData()))

    # --- state --------------------------------------------------------------------------------

    def update_enabled(self, *, has_analysis: bool, can_export_folder: bool) -> None:
        for action in (self.export_json, self.export_npz):
            action.setEnabled(has_analysis)
        self.export_csv.setEnabled(can_export_folder)

    def show_devices(self, devices: list[str]) -> None:
        """Offer `devices` ('auto', 'cpu', 'cuda', ...) in the toolbar; `select_device` then
        shows the one in use."""
        with QSignalBlocker(self.device_chooser):
            self.device_chooser.clear()
            for name in devices:
                self.device_chooser.addItem(CHOICE_LABELS.get(name, name), name)

    def select_device(self, device: str) -> None:
        """Show `device` as chosen, without choosing it (the window already has)."""
        row = self.device_chooser.findData(device)
        if row >= 0:
            with QSignalBlocker(self.device_chooser):
                self.device_chooser.setCurrentIndex(row)

    def show_local_models(self, models: list[LocalModel]) -> None:
        menu = self.local_models_menu
        menu.clear()
        for model in models:
            action = menu.addAction(f"{model.name} ({model.source})")
            action.setToolTip(str(model.path))
            action.triggered.connect(lambda _=False, p=model.path: self.modelChosen.emit(p))
        if not models:
            menu.addAction("None found").setEnabled(False)

    # --- menus of files, filled as they open --------------------------------------------------

    def fill_pretrained_menu(self) -> None:
        """The catalogue, each entry marked here (it opens) or "get" with its size (it
        downloads); only the caches are read."""
        menu = self.pretrained_menu
        menu.clear()
        for entry in hub.available_models():
            here = hub.is_downloaded(entry)
            size = f" ({entry.size_bytes / 1e6:,.0f} MB)" if entry.size_bytes else ""
            action = menu.addAction(entry.title if here else f"{entry.title} — get{size}")
            action.setToolTip(f"{entry.reference}, {entry.licence}")
            action.triggered.connect(lambda _=False, e=entry: self.pretrainedChosen.emit(e))

    def fill_recent_menu(self) -> None:
        _fill_path_menu(self.recent_menu, self._settings.recent_files, self.fileChosen)

    def fill_recent_models_menu(self) -> None:
        _fill_path_menu(self.recent_models_menu, self._settings.recent_models, self.modelChosen)

    def fill_samples_menu(self) -> None:
        menu = self.samples_menu
        samples = resources.sample_images()
        _fill_path_menu(menu, samples, self.fileChosen)
        if samples:
            menu.addSeparator()
            menu.addAction("Open All Samples as a Folder").triggered.connect(
                lambda: self.fileChosen.emit(resources.SAMPLES_DIR)
            )
            licence = resources.SAMPLES_DIR / "LICENSES.md"
            if licence.is_file():
                menu.addAction("Sample Photo Credits…").triggered.connect(
                    lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(licence)))
                )

    def _show_about(self) -> None:
        QMessageBox.about(
            self._window,
            "About ViT Studio",
            f"<b>ViT Studio {__version__}</b><p>Look inside Vision Transformers: predictions, "
            "class-token attention per head, attention rollout (Abnar &amp; Zuidema 2020), "
            "class-specific rollout (Chefer et al. 2021), position-embedding similarity and "
            "mean attention distance (Dosovitskiy et al. 2021, Figure 7).</p>",
        )


def _fill_path_menu(menu: QMenu, paths: list[Path], chosen) -> None:
    """List the existing `paths` in `menu`; picking one emits `chosen(path)`."""
    menu.clear()
    existing = [p for p in paths if p.exists()]
    for path in existing:
        action = menu.addAction(path.name + ("/" if path.is_dir() else ""))
        action.setToolTip(str(path))
        action.triggered.connect(lambda _=False, p=path: chosen.emit(p))
    if not existing:
        menu.addAction("None yet").setEnabled(False)
