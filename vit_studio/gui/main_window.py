"""The explorer window: one cached analysis, many views, and a GUI thread that never waits.

Models load and images are analysed in the `InferenceWorker`'s thread; the window keeps the
newest `ImageResult` and every control (rollout settings, layer, head, patch, class among the
cached ones) redraws from it on the GUI thread in milliseconds. Tabs that are not on screen are
redrawn when they are shown, so a new analysis costs only what is visible.

This module composes the window and keeps its state; the menus and toolbar are built in `menus`,
the file dialogs live in `dialogs`, the choice of overlay map in `overlay`, and the status bar in
`widgets.status_bar`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QPainter, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from vit_studio.engine.analysis import TOP_K, Analysis
from vit_studio.engine.checkpoints.discovery import LocalModel
from vit_studio.engine.errors import StudioError
from vit_studio.engine.images import IMAGE_EXTENSIONS, is_image_path
from vit_studio.engine.text import counted
from vit_studio.gui import export
from vit_studio.gui.cpu import limit_blas_threads
from vit_studio.gui.dialogs import MODEL_SUFFIXES, FileDialogs, is_model_path
from vit_studio.gui.finetune.panel import FinetunePanel
from vit_studio.gui.menus import DEVICE_LABELS, Menus
from vit_studio.gui.overlay import OVERLAYS, Overlay, overlay_for
from vit_studio.gui.settings import Settings
from vit_studio.gui.widgets.attention_grid import MEAN_HEAD, AttentionGrid
from vit_studio.gui.widgets.banner import Banner
from vit_studio.gui.widgets.filmstrip import THUMBNAIL_SIZE, Filmstrip, image_files_in
from vit_studio.gui.widgets.image_view import ImageView
from vit_studio.gui.widgets.model_panel import ModelPanel
from vit_studio.gui.widgets.patch_view import PatchView
from vit_studio.gui.widgets.plots import MeanDistancePlot, TokenNormMap
from vit_studio.gui.widgets.posembed_view import PosEmbedMosaic
from vit_studio.gui.widgets.predictions import PredictionsView
from vit_studio.gui.widgets.rollout_controls import RolloutControls, RolloutSettings
from vit_studio.gui.widgets.status_bar import StatusBar
from vit_studio.gui.workers.batch_export import BatchExporter, BatchJob, BatchSummary
from vit_studio.gui.workers.inference import (
    ANALYSIS,
    MODEL,
    ImageResult,
    InferenceClient,
    ModelSummary,
)
from vit_studio.gui.workers.thumbnails import ThumbnailLoader

# Tab keys, in tab order; `vit-studio --view` brings any of them to the front.
VIEWS = (
    "predictions", "attention", "rollout", "posembed", "patch", "distance", "norms", "finetune",
)  # fmt: skip
# Share of the window the views dock widens to for the fine-tune panel, which needs the room.
FINETUNE_DOCK_SHARE = 0.68
STOP_TIMEOUT_MS = 5000


class MainWindow(QMainWindow):
    """The explorer. Drive it from code with `load_model`, `open_image`, `open_folder`, ...

    `analysisReady(Analysis)` is emitted once the views show a new analysis, `modelReady`
    once the model panel shows a newly loaded (or moved) model, `errorShown(message)` when a
    failure is reported, `exportFinished(path)` when an export has been written.
    """

    analysisReady = Signal(object)
    modelReady = Signal(object)
    errorShown = Signal(str)
    exportFinished = Signal(object)

    def __init__(self, settings: Settings | None = None, *, num_threads: int | None = None) -> None:
        super().__init__()
        limit_blas_threads()
        self._settings = settings if settings is not None else Settings()
        self._summary: ModelSummary | None = None
        self._result: ImageResult | None = None
        self._image_path: Path | None = None
        self._model_pending = False
        self._gradients_pending: tuple[Path, int] | None = None
        self._device_before_switch: str | None = None
        self._layer = -1  # -1: the last layer of whichever model is shown
        self._head = MEAN_HEAD
        self._patch: int | None = None
        self._class_index: int | None = None
        self._view_map: np.ndarray | None = None
        self._stale_tabs: set[QWidget] = set()
        self._stopped = False
        self._num_threads = num_threads

        self._inference = InferenceClient(self, num_threads)
        self._batch = BatchExporter(self, num_threads)
        self._thumbnails = ThumbnailLoader(self)

        self._build_views()
        self._build_docks()
        self._status = StatusBar()
        self.setStatusBar(self._status)
        self._menus = Menus(
            self,
            self._settings,
            FileDialogs(self, self._settings),
            (self._views_dock, self._model_dock, self._filmstrip_dock),
        )
        self._connect()
        self._restore_settings()
        self.setAcceptDrops(True)
        self._update_title()
        self._update_enabled()

    # --- building -----------------------------------------------------------------------------

    def _build_views(self) -> None:
        self._banner = Banner()

        self._overlay = QComboBox()
        for key, label in OVERLAYS.items():
            self._overlay.addItem(label, key)
        self._overlay.setToolTip(
            "Which patch map to paint over the image. Moving a rollout control, clicking an "
            "attention thumbnail or clicking a patch switches it for you."
        )
        overlay_label = QLabel("Show on image")
        overlay_label.setToolTip(self._overlay.toolTip())
        overlay_row = QHBoxLayout()
        overlay_row.addWidget(overlay_label)
        overlay_row.addWidget(self._overlay, 1)

        self._image_view = ImageView()
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self._banner)
        layout.addLayout(overlay_row)
        layout.addWidget(self._image_view, 1)
        self.setCentralWidget(central)

        self._predictions = PredictionsView()
        self._attention = AttentionGrid()
        self._rollout = RolloutControls()
        self._posembed = PosEmbedMosaic()
        self._patch_view = PatchView()
        self._distance = MeanDistancePlot()
        self._norms = TokenNormMap()
        self._finetune = FinetunePanel(
            self._settings.finetune_runs_dir,
            num_threads=self._num_threads,
            device=self._settings.device,
        )
        rollout_page = QWidget()
        rollout_layout = QVBoxLayout(rollout_page)
        rollout_layout.addWidget(self._rollout)
        rollout_note = QLabel(
            "The rollout map is painted on the image. Attention rollout follows how attention "
            "flows to the class token through all layers; the class-specific rollout weights it "
            "by the gradient of the chosen class (pick one under Predictions)."
        )
        rollout_note.setWordWrap(True)
        rollout_layout.addWidget(rollout_note)
        rollout_layout.addStretch(1)

        self._tabs = QTabWidget()
        self._tabs.setDocumentMode(True)
        pages = {
            "predictions": (self._predictions, "Predictions", "Top-5 class probabilities"),
            "attention": (
                self._attention,
                "Attention",
                "Class-token attention of every layer and head; click one to overlay",
            ),
            "rollout": (rollout_page, "Rollout", "Attention rollout settings"),
            "posembed": (
                self._posembed,
                "Positions",
                "Cosine similarity of the learned position embeddings (ViT Figure 7)",
            ),
            "patch": (
                self._patch_view,
                "Patch",
                "Where the clicked patch attends, and its position-embedding similarity",
            ),
            "distance": (
                self._distance,
                "Distances",
                "Mean attention distance per head against depth (ViT Figure 7)",
            ),
            "norms": (self._norms, "Norms", "Patch-token norms per layer"),
            "finetune": (
                self._finetune,
                "Fine-tune",
                "Fine-tune the model on a folder of your own images and watch it learn",
            ),
        }
        self._pages: dict[str, QWidget] = {}
        for key, (page, title, tip) in pages.items():
            index = self._tabs.addTab(page, title)
            self._tabs.setTabToolTip(index, tip)
            self._pages[key] = page
        # How each tab shows the current analysis; run when the tab is (or becomes) visible.
        self._tab_refreshers: dict[QWidget, Callable[[Analysis], None]] = {
            self._predictions: lambda a: self._predictions.show_analysis(a, self._class_index),
            self._attention: self._show_attention_grid,
            self._posembed: self._show_posembed,
            self._patch_view: self._show_patch_view,
            self._distance: self._show_distance,
            self._norms: self._norms.show_analysis,
        }

    def _build_docks(self) -> None:
        self._views_dock = self._dock(
            "views", "Views", self._tabs, Qt.DockWidgetArea.RightDockWidgetArea
        )
        self._model_panel = ModelPanel()
        self._model_dock = self._dock(
            "model", "Model", self._model_panel, Qt.DockWidgetArea.LeftDockWidgetArea
        )
        self._filmstrip = Filmstrip()
        self._filmstrip_dock = self._dock(
            "folder", "Folder", self._filmstrip, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        # First-run proportions; a saved layout replaces them in _restore_settings.
        self.resizeDocks(
            [self._model_dock, self._views_dock], [250, 740], Qt.Orientation.Horizontal
        )

    def _dock(self, name: str, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{name}_dock")  # saveState/restoreState find docks by name
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _connect(self) -> None:
        inference = self._inference
        inference.modelReady.connect(self._on_model_ready)
        inference.analysisReady.connect(self._on_analysis)
        inference.failed.connect(self._on_failed)
        inference.busyChanged.connect(self._status.set_busy)
        inference.devicesFound.connect(self._on_devices)
        inference.localModelsFound.connect(self._on_local_models)
        self._batch.progress.connect(self._status.show_export_progress)
        self._batch.finished.connect(self._on_batch_finished)
        self._batch.failed.connect(self._show_error)
        self._batch.runningChanged.connect(self._status.set_export_running)
        self._status.cancelExportRequested.connect(self.cancel_export)
        self._thumbnails.thumbnailReady.connect(self._filmstrip.set_thumbnail)

        self._image_view.patchClicked.connect(self.select_patch)
        self._image_view.stepRequested.connect(self.step_image)
        self._image_view.opacityChanged.connect(self._remember_opacity)
        self._image_view.gridToggled.connect(self._on_grid_toggled)
        self._overlay.currentIndexChanged.connect(self._on_overlay_chosen)
        self._predictions.classChosen.connect(self.choose_class)
        self._attention.headSelected.connect(self.select_head)
        self._rollout.changed.connect(self._on_rollout_changed)
        self._posembed.patchSelected.connect(
            lambda patch: self.select_patch(patch, overlay="posembed")
        )
        self._patch_view.patchClicked.connect(self.select_patch)
        self._patch_view.layerHeadChanged.connect(self._on_patch_layer_head)
        self._tabs.currentChanged.connect(lambda _index: self._refresh_current_tab())
        self._filmstrip.imageChosen.connect(self.open_image)
        self._model_panel.modelChosen.connect(self.load_model)
        self._finetune.openInExplorer.connect(self._open_finetuned)

    def _restore_settings(self) -> None:
        settings = self._settings
        geometry, state = settings.window_geometry, settings.window_state
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        if state is not None:
            self.restoreState(state)
        self._image_view.set_opacity(settings.overlay_opacity)
        self._image_view.set_grid_visible(settings.show_grid)
        self._menus.grid_action.setChecked(settings.show_grid)
        with QSignalBlocker(self._rollout):
            self._rollout.set_settings(settings.rollout)
        self._set_overlay_kind(settings.overlay_kind, refresh=False)

    # --- the testable surface -----------------------------------------------------------------

    @property
    def model_summary(self) -> ModelSummary | None:
        return self._summary

    @property
    def result(self) -> ImageResult | None:
        """The analysis on screen, with its image path and timings."""
        return self._result

    @property
    def busy(self) -> bool:
        """Whether the inference worker has requests in hand."""
        return self._inference.busy

    @property
    def image_view(self) -> ImageView:
        return self._image_view

    @property
    def rollout_controls(self) -> RolloutControls:
        return self._rollout

    @property
    def filmstrip(self) -> Filmstrip:
        return self._filmstrip

    @property
    def finetune_panel(self) -> FinetunePanel:
        return self._finetune

    @property
    def view_map(self) -> np.ndarray | None:
        """The `[g, g]` map painted over the image (None: no overlay)."""
        return self._view_map

    def overlay_kind(self) -> str:
        return self._overlay.currentData()

    def error_text(self) -> str:
        """The message in the error banner ('' when there is none)."""
        return self._banner.error_text()

    def load_model(self, path: str | Path) -> None:
        """Load a model in the worker; the current image is analysed again once it is ready."""
        path = Path(path)
        self._model_pending = True
        self._inference.load_model(path, self._settings.device)
        self.statusBar().showMessage(f"Loading model {path.name}…")

    def set_device(self, device: str) -> None:
        """Run on 'auto', 'cpu', 'cuda' or 'mps' from now on (the model moves in the worker)."""
        previous = self._settings.device
        self._settings.device = device
        self._menus.select_device(device)
        self._finetune.set_device(device)
        if self._inference.set_device(device):
            self._device_before_switch = previous
            self._model_pending = True
            self.statusBar().showMessage(f"Moving the model to {DEVICE_LABELS.get(device)}…")

    def open_image(self, path: str | Path) -> None:
        """Show and analyse an image; a folder opens as a filmstrip instead."""
        path = Path(path)
        if path.is_dir():
            self.open_folder(path)
            return
        self._image_path = path
        self._settings.add_recent_file(path)
        self._settings.last_folder = path.parent
        if path not in self._filmstrip.paths():
            self._show_folder(self._siblings(path), path)
        else:
            self._filmstrip.set_current(path)
        self._update_title()
        self._image_view.set_placeholder(
            f"Analysing {path.name}…"
            if self._summary or self._model_pending
            else f"{path.name} will be analysed once a model is open: Model ▸ Open Model…"
        )
        self._request_analysis()

    def open_folder(self, folder: str | Path) -> None:
        """Show a folder's images as a filmstrip and analyse the first one."""
        folder = Path(folder)
        try:
            files = image_files_in(folder)
        except OSError as exc:
            self._show_error(f"{folder}: cannot list it ({exc.strerror or exc}); check the path")
            return
        if not files:
            self._show_error(
                f"{folder}: no images directly inside it; choose a folder that holds "
                f"{', '.join(IMAGE_EXTENSIONS)} files"
            )
            return
        self._settings.add_recent_file(folder)
        self._settings.last_folder = folder
        self._show_folder(files, files[0])
        self.open_image(files[0])

    def open_paths(self, paths: Iterable[Path]) -> None:
        """What a drop does: open a model, a folder, or images (several make a filmstrip)."""
        paths = [Path(p) for p in paths]
        models = [p for p in paths if is_model_path(p)]
        folders = [p for p in paths if p.is_dir() and p not in models]
        images = [p for p in paths if p.is_file() and is_image_path(p)]
        if models:
            self.load_model(models[0])
        if folders:
            self.open_folder(folders[0])
        elif len(images) > 1:
            self._show_folder(sorted(images), sorted(images)[0])
            self.open_image(sorted(images)[0])
        elif images:
            self.open_image(images[0])
        elif not models:
            names = ", ".join(p.name for p in paths[:3]) or "nothing"
            self._show_error(
                f"{names}: not an image, a folder or a model; drop {', '.join(IMAGE_EXTENSIONS)} "
                f"files, a folder of them, or a {', '.join(MODEL_SUFFIXES)} model"
            )

    def step_image(self, delta: int) -> None:
        """Move `delta` images along the filmstrip."""
        self._filmstrip.step(delta)

    def select_patch(self, patch: int, overlay: str = "patch") -> None:
        """Inspect one patch (row-major index): where it attends and its position similarity."""
        self._patch = patch
        self._image_view.select_patch(patch)
        self._posembed.highlight(patch)
        if self._is_fresh(self._patch_view):
            self._patch_view.set_patch(patch)
        if self._tabs.currentWidget() not in (self._posembed, self._patch_view):
            self._tabs.setCurrentWidget(self._patch_view)
        self._set_overlay_kind(overlay)

    def select_head(self, layer: int, head: int) -> None:
        """Overlay the class-token attention of one layer and head (-1: mean of heads)."""
        self._set_layer_head(layer, head)
        self._set_overlay_kind("attention")

    def choose_class(self, index: int) -> None:
        """Explain one class with the class-specific (gradient) rollout."""
        self._class_index = index
        self._predictions.set_chosen(index)
        settings = self._rollout.settings()
        if settings.mode != "gradient":
            self._rollout.set_settings(dataclasses.replace(settings, mode="gradient"))
        else:
            self._set_overlay_kind("rollout")

    def show_view(self, view: str) -> None:
        """Bring one tab to the front: one of `VIEWS`."""
        self._tabs.setCurrentWidget(self._pages[view])
        self._views_dock.show()
        wide = round(self.width() * FINETUNE_DOCK_SHARE)
        if view == "finetune" and self._views_dock.width() < wide:
            self.resizeDocks([self._views_dock], [wide], Qt.Orientation.Horizontal)

    def finetune_folder(self, folder: str | Path) -> None:
        """Show the fine-tune panel with the report of `folder`."""
        self.show_view("finetune")
        self._finetune.choose_folder(folder)

    def scan_local_models(self) -> None:
        """Look for models on this computer in the worker; fills the model list and menu."""
        self._model_panel.show_searching()
        self._inference.scan_local_models()

    def export_view_png(self, path: str | Path) -> None:
        """The image with its overlay and colour bar, beside the visible view, as a PNG."""
        path = Path(path)
        left = self._image_view.grab()
        right = self._tabs.currentWidget().grab()
        picture = QPixmap(left.width() + right.width(), max(left.height(), right.height()))
        picture.fill(self.palette().window().color())
        painter = QPainter(picture)
        painter.drawPixmap(0, 0, left)
        painter.drawPixmap(left.width(), 0, right)
        painter.end()
        if not picture.save(str(path), "PNG"):
            self._show_error(f"{path}: could not write the PNG; choose a folder you can write to")
            return
        self._exported(path)

    def export_analysis(self, path: str | Path) -> None:
        """The analysis as JSON or NPZ, chosen by the file's suffix."""
        path = Path(path)
        if self._result is None or self._summary is None:
            self._show_error("nothing to export yet; open an image and wait for its analysis")
            return
        try:
            if path.suffix.lower() == ".npz":
                export.write_npz(path, self._result, self._view_map)
            else:
                document = export.analysis_document(
                    self._result, self._summary, self._view_state(), self._view_map
                )
                export.write_json(path, document)
        except StudioError as exc:
            self._show_error(str(exc))
            return
        self._exported(path)

    def export_folder_csv(self, path: str | Path) -> None:
        """Top-5 predictions of every filmstrip image, in the background; progress in the
        status bar; `exportFinished(path)` when written."""
        files = self._filmstrip.paths()
        if self._summary is None or not files:
            self._show_error("open a model and a folder of images before exporting predictions")
            return
        self._batch.start(
            BatchJob(
                model_path=self._summary.path,
                device=self._settings.device,
                files=tuple(files),
                output=Path(path),
                top_k=TOP_K,
            )
        )
        self._status.show_export_progress(0, len(files))
        self.statusBar().showMessage(f"Exporting predictions for {counted(len(files), 'image')}…")

    def cancel_export(self) -> None:
        if self._batch.running:
            self._batch.cancel()
            self.statusBar().showMessage("Folder export cancelled; no file written", 5000)

    def shutdown(self, timeout_ms: int = STOP_TIMEOUT_MS) -> bool:
        """Stop every worker thread; True if all stopped within `timeout_ms` each."""
        if self._stopped:
            return True
        stopped = [
            worker.stop(timeout_ms) for worker in (self._batch, self._inference, self._thumbnails)
        ]
        stopped.append(self._finetune.shutdown(timeout_ms))
        self._stopped = all(stopped)
        return self._stopped

    # --- worker results -----------------------------------------------------------------------

    def _on_model_ready(self, summary: ModelSummary) -> None:
        self._summary = summary
        self._model_pending = False
        self._device_before_switch = None
        self._settings.last_model = summary.path
        self._settings.add_recent_model(summary.path)
        self._model_panel.show_model(summary)
        self._finetune.set_explorer_model(summary.path, summary.name)
        self._status.show_model(summary)
        self.statusBar().showMessage(f"Model {summary.name} ready on {summary.device_label}", 5000)
        self._banner.clear()
        self._update_title()
        self._update_enabled()
        self.modelReady.emit(summary)
        self._request_analysis()

    def _on_analysis(self, result: ImageResult) -> None:
        analysis = result.analysis
        same_image = self._result is not None and self._result.path == result.path
        self._result = result
        self._gradients_pending = None
        if not same_image or self._class_index not in range(len(analysis.class_names)):
            self._class_index = analysis.top_k(1)[0].index
        if self._patch is not None and self._patch >= analysis.grid_size**2:
            self._patch = None
        if not 0 <= self._layer < analysis.num_layers:
            self._layer = analysis.num_layers - 1
        if self._head >= analysis.num_heads:
            self._head = MEAN_HEAD
        self._image_view.set_image(analysis.pixels, analysis.grid_size)
        self._image_view.select_patch(self._patch)
        with QSignalBlocker(self._rollout):
            self._rollout.set_num_layers(analysis.num_layers)
            # Class gradients are computed on demand, so the mode is always available.
            self._rollout.set_gradient_available(True)
            # The remembered settings, clipped to this model; a start layer past its depth stays
            # in the settings for the next, deeper model.
            self._rollout.set_settings(self._settings.rollout)
        self._stale_tabs = set(self._tab_refreshers)
        self._refresh_current_tab()
        self._refresh_overlay()
        self._status.show_timing(result)
        self._banner.clear()
        self._update_enabled()
        self.statusBar().showMessage(
            f"{result.path.name}: {analysis.top_k(1)[0].label} "
            f"({analysis.top_k(1)[0].probability:.1%})",
            5000,
        )
        self.analysisReady.emit(analysis)

    def _on_failed(self, kind: str, message: str) -> None:
        if kind == MODEL:
            self._model_pending = False
            if self._device_before_switch is not None:
                # The model stayed where it was, so the device choice goes back too.
                self._settings.device = self._device_before_switch
                self._menus.select_device(self._device_before_switch)
                self._finetune.set_device(self._device_before_switch)
                self._device_before_switch = None
            # The worker kept the model it had; an image opened meanwhile is analysed with it.
            if self._result is None or self._result.path != self._image_path:
                self._request_analysis()
        elif kind == ANALYSIS:
            if self._gradients_pending is not None:
                # Keep showing what works: the plain rollout of the cached analysis.
                self._gradients_pending = None
                self._rollout.set_settings(
                    dataclasses.replace(self._rollout.settings(), mode="plain")
                )
            self._image_path = self._result.path if self._result else None
        self._show_error(message)

    def _on_devices(self, devices: list[str]) -> None:
        self._menus.show_devices(devices)
        if self._settings.device not in devices:
            self._settings.device = "auto"
        self._menus.select_device(self._settings.device)

    def _on_local_models(self, models: list[LocalModel]) -> None:
        self._model_panel.show_local_models(models)
        self._menus.show_local_models(models)

    def _on_batch_finished(self, summary: BatchSummary) -> None:
        failed = f", {summary.failures} unreadable" if summary.failures else ""
        self.statusBar().showMessage(
            f"Wrote predictions for {counted(summary.images, 'image')}{failed} to {summary.output}",
            10000,
        )
        self._exported(summary.output)

    # --- controls -----------------------------------------------------------------------------

    def _on_rollout_changed(self, settings: RolloutSettings) -> None:
        self._settings.rollout = settings
        self._set_overlay_kind("rollout")

    def _on_patch_layer_head(self, layer: int, head: int) -> None:
        self._set_layer_head(layer, head)
        self._set_overlay_kind("patch" if self._patch is not None else "attention")

    def _set_layer_head(self, layer: int, head: int) -> None:
        self._layer, self._head = layer, head
        if self._is_fresh(self._patch_view):
            self._patch_view.set_layer_head(layer, head)
        if self._is_fresh(self._attention):
            self._attention.select(layer, head)
        if self._is_fresh(self._distance):
            self._distance.select(layer, head)

    def _is_fresh(self, page: QWidget) -> bool:
        """Whether `page` already shows the current analysis (stale tabs redraw when shown)."""
        return self._result is not None and page not in self._stale_tabs

    def _on_overlay_chosen(self, _row: int) -> None:
        self._settings.overlay_kind = self.overlay_kind()
        self._refresh_overlay()

    def _set_overlay_kind(self, kind: str, *, refresh: bool = True) -> None:
        with QSignalBlocker(self._overlay):
            self._overlay.setCurrentIndex(max(0, self._overlay.findData(kind)))
        self._settings.overlay_kind = self.overlay_kind()
        if refresh:
            self._refresh_overlay()

    def _remember_opacity(self, opacity: float) -> None:
        self._settings.overlay_opacity = opacity

    def _on_grid_toggled(self, visible: bool) -> None:
        self._settings.show_grid = visible
        self._menus.grid_action.setChecked(visible)

    # --- drawing ------------------------------------------------------------------------------

    def _refresh_current_tab(self) -> None:
        page = self._tabs.currentWidget()
        if self._result is not None and page in self._stale_tabs:
            self._stale_tabs.discard(page)
            self._tab_refreshers[page](self._result.analysis)

    def _show_attention_grid(self, analysis: Analysis) -> None:
        self._attention.show_analysis(analysis)
        self._attention.select(self._layer, self._head)

    def _show_patch_view(self, analysis: Analysis) -> None:
        self._patch_view.show_analysis(analysis, self._patch)
        self._patch_view.set_layer_head(self._layer, self._head)

    def _show_posembed(self, analysis: Analysis) -> None:
        self._posembed.show_analysis(analysis)
        self._posembed.highlight(self._patch)

    def _show_distance(self, analysis: Analysis) -> None:
        self._distance.show_analysis(analysis)
        self._distance.select(self._layer, self._head)

    def _refresh_overlay(self) -> None:
        """Paint the chosen map of the cached analysis over the image (no model involved)."""
        if self._result is None:
            self._view_map = None
            return
        overlay = overlay_for(
            self._result.analysis,
            self.overlay_kind(),
            self._rollout.settings(),
            layer=self._layer,
            head=self._head,
            patch=self._patch,
            class_index=self._class_index,
        )
        if overlay.awaiting_gradients:
            self._request_gradients()
        self._paint_overlay(overlay)
        # Exports describe the screen: while class gradients are computed, no map is shown.
        self._view_map = overlay.grid_map

    def _paint_overlay(self, overlay: Overlay) -> None:
        if overlay.grid_map is None:
            self._image_view.clear_overlay(overlay.title)
            return
        self._image_view.set_overlay(
            overlay.grid_map,
            overlay.title,
            overlay.label,
            vmin=overlay.vmin,
            vmax=overlay.vmax,
            colormap=overlay.colormap,
        )

    # --- requests -----------------------------------------------------------------------------

    def _request_analysis(self) -> None:
        if self._image_path is None or self._summary is None or self._model_pending:
            return
        gradient = self._rollout.settings().mode == "gradient"
        self._inference.analyze(self._image_path, TOP_K if gradient else None)
        self.statusBar().showMessage(f"Analysing {self._image_path.name}…")

    def _request_gradients(self) -> None:
        """Re-analyse the shown image with gradients for the chosen class and the top-k.

        The engine computes class gradients from the graph of a forward pass, so a class that
        was not cached costs one more forward pass plus its backward passes.
        """
        assert self._result is not None and self._class_index is not None
        wanted = (self._result.path, self._class_index)
        # An image still on its way brings top-k gradients with it; this request would cancel it.
        another_image = self._image_path != self._result.path
        if self._gradients_pending == wanted or self._model_pending or another_image:
            return
        self._gradients_pending = wanted
        analysis = self._result.analysis
        classes = {p.index for p in analysis.top_k(TOP_K)} | set(analysis.class_relevance)
        self._inference.analyze(self._result.path, tuple(sorted(classes | {self._class_index})))
        self.statusBar().showMessage("Computing class gradients…")

    # --- files --------------------------------------------------------------------------------

    def _siblings(self, path: Path) -> list[Path]:
        """The images beside `path`, so the arrow keys can walk its folder."""
        try:
            files = image_files_in(path.parent)
        except OSError:
            return [path]
        return files if path in files else [path]

    def _show_folder(self, files: list[Path], current: Path) -> None:
        self._filmstrip.set_paths(files, current)
        self._thumbnails.load(files, THUMBNAIL_SIZE)
        self._update_enabled()

    def _open_finetuned(self, path: Path) -> None:
        """Open in Explorer: the fine-tuned model replaces the explorer's, predictions shown."""
        self.load_model(path)
        self.show_view("predictions")

    # --- window state -------------------------------------------------------------------------

    def _view_state(self) -> export.ViewState:
        return export.ViewState(
            overlay=self.overlay_kind(),
            title=self._image_view.title(),
            layer=self._layer,
            head=self._head,
            patch=self._patch,
            class_index=self._class_index,
            rollout=dataclasses.asdict(self._rollout.settings()),
        )

    def _exported(self, path: Path) -> None:
        self.statusBar().showMessage(f"Saved {path}", 10000)
        self.exportFinished.emit(path)

    def show_notice(self, message: str) -> None:
        """A hint in the banner above the image (not an error)."""
        self._banner.show_notice(message)

    def _show_error(self, message: str) -> None:
        self._banner.show_error(message)
        self.statusBar().showMessage("Error: " + message, 10000)
        self.errorShown.emit(message)

    def _update_title(self) -> None:
        parts = ["ViT Studio"]
        if self._image_path is not None:
            parts.append(self._image_path.name)
        if self._summary is not None:
            parts.append(self._summary.name)
        self.setWindowTitle(" — ".join(parts))

    def _update_enabled(self) -> None:
        self._menus.update_enabled(
            has_analysis=self._result is not None,
            can_export_folder=self._summary is not None and bool(self._filmstrip.paths()),
        )

    # --- Qt events ----------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._settings.window_geometry = self.saveGeometry()
        self._settings.window_state = self.saveState()
        self._settings.sync()
        self.shutdown()
        event.accept()
