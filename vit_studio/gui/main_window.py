"""The explorer window: composes the views around the `ExplorerState`, and never waits.

What the explorer shows lives in `state.explorer.ExplorerState` (no Qt); this window builds the
widgets, passes what the user does to the state, paints what the state says, hands the state's
requests to the workers (models load and images are analysed in the `InferenceClient`'s thread)
and their answers back. The image is `image_pane`, the views `view_tabs`, the menus and toolbar
`menus`, the file dialogs `dialogs`, the exports `exports`, the status bar `widgets.status_bar`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QDockWidget, QMainWindow, QWidget

from vit_studio.engine.analysis import Analysis, best_prediction_text
from vit_studio.engine.checkpoints.discovery import LocalModel
from vit_studio.engine.checkpoints.reading import MODEL_SUFFIXES, is_model_path
from vit_studio.engine.device import CHOICE_LABELS
from vit_studio.engine.errors import StudioError
from vit_studio.engine.hub import CatalogueEntry, local_path
from vit_studio.engine.images import IMAGE_EXTENSIONS, is_image_path
from vit_studio.engine.model import HEADS_GIVEN
from vit_studio.gui import questions
from vit_studio.gui.ablation import connect_ablation
from vit_studio.gui.cpu import limit_blas_threads
from vit_studio.gui.dialogs import FileDialogs
from vit_studio.gui.exports import Exports
from vit_studio.gui.finetune.panel import FinetunePanel
from vit_studio.gui.image_pane import ImagePane
from vit_studio.gui.menu_actions import connect_menus
from vit_studio.gui.menus import Menus
from vit_studio.gui.pretrained_dialog import PretrainedDialog
from vit_studio.gui.settings import Settings
from vit_studio.gui.state.explorer import ExplorerState
from vit_studio.gui.state.results import HeadCountRequest, ImageResult, ModelSummary
from vit_studio.gui.trust import connect_trust
from vit_studio.gui.view_tabs import ViewTabs
from vit_studio.gui.widgets.filmstrip import Filmstrip, folder_images
from vit_studio.gui.widgets.image_view import ImageView
from vit_studio.gui.widgets.model_panel import ModelPanel
from vit_studio.gui.widgets.status_bar import StatusBar
from vit_studio.gui.workers.batch_export import BatchExporter
from vit_studio.gui.workers.inference import ANALYSIS, MODEL, InferenceClient

# Share of the window the views dock widens to for the fine-tune panel, which needs the room.
FINETUNE_DOCK_SHARE = 0.68
STOP_TIMEOUT_MS = 5000


class MainWindow(QMainWindow):
    """The explorer. Drive it from code with `load_model`, `open_image`, `open_folder`, ... or
    through its `state`.

    `analysisReady(Analysis)` is emitted once the views show a new analysis, `modelReady`
    once the model panel shows a newly loaded (or moved) model, `errorShown(message)` when a
    failure is reported, `exportFinished(path)` when an export has been written.
    """

    analysisReady = Signal(Analysis)
    modelReady = Signal(ModelSummary)
    errorShown = Signal(str)
    exportFinished = Signal(Path)

    def __init__(self, settings: Settings | None = None, *, num_threads: int | None = None) -> None:
        super().__init__()
        limit_blas_threads()
        self._settings = settings if settings is not None else Settings()
        self._stopped = False
        self._num_threads = num_threads
        self.state = ExplorerState(
            device=self._settings.device,
            rollout=self._settings.rollout,
            overlay_kind=self._settings.overlay_kind,
        )
        self._inference = InferenceClient(self, num_threads)
        self._finetune = FinetunePanel(
            self._settings.finetune_runs_dir, num_threads=num_threads, device=self.state.device
        )
        self._build()
        self._menus = Menus(
            self, self._settings, (self._views_dock, self._model_dock, self._filmstrip_dock)
        )
        self._connect_state()
        self._connect_workers()
        self._connect_widgets()
        connect_menus(self, self._menus, FileDialogs(self, self._settings))
        self._restore_layout()
        self.setAcceptDrops(True)
        self._update_title()
        self._update_enabled()

    # --- building -----------------------------------------------------------------------------

    def _build(self) -> None:
        self._pane = ImagePane(self.state, self._settings)
        self._banner, self._image_view = self._pane.banner, self._pane.image_view
        self.setCentralWidget(self._pane)

        self._views = ViewTabs(self.state, self._finetune)
        areas = Qt.DockWidgetArea
        self._views_dock = self._dock("views", "Views", self._views, areas.RightDockWidgetArea)
        self._model_panel = ModelPanel()
        self._model_dock = self._dock(
            "model", "Model", self._model_panel, areas.LeftDockWidgetArea
        )
        self._filmstrip = Filmstrip()
        self._filmstrip_dock = self._dock(
            "folder", "Folder", self._filmstrip, areas.BottomDockWidgetArea
        )
        # First-run proportions; a saved layout replaces them in _restore_layout.
        self.resizeDocks(
            [self._model_dock, self._views_dock], [250, 740], Qt.Orientation.Horizontal
        )
        self._status = StatusBar()
        self.setStatusBar(self._status)
        self._pretrained: PretrainedDialog | None = None  # made when first asked for
        self.interactive = True  # False: nobody answers questions (--screenshot); they fail
        self._exports = Exports(self.state, self._status, self._filmstrip.paths, self,
                                self._num_threads)  # fmt: skip

    def _dock(self, name: str, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{name}_dock")  # saveState/restoreState find docks by name
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _connect_state(self) -> None:
        state, settings, inference = self.state, self._settings, self._inference
        state.model_requested.connect(
            lambda path, heads: inference.load_model(path, state.device, heads)
        )
        state.move_requested.connect(inference.set_device)
        state.analysis_requested.connect(self._analyse)
        state.model_changed.connect(self._on_model)
        state.image_changed.connect(lambda _path: self._update_title())
        state.result_changed.connect(self._on_result)
        state.overlay_kind_changed.connect(lambda kind: setattr(settings, "overlay_kind", kind))
        state.rollout_changed.connect(lambda _shown: setattr(settings, "rollout", state.rollout))
        state.device_changed.connect(self._on_device)

    def _connect_workers(self) -> None:
        inference = self._inference
        inference.modelReady.connect(self.state.model_ready)
        inference.headCountNeeded.connect(self._ask_head_count)
        connect_trust(self.views.trust, inference, lambda: self.state.image_path)
        self.knocked_out_heads = connect_ablation(self.views, inference, self.state)
        inference.analysisReady.connect(self.state.analysis_ready)
        inference.failed.connect(self._on_failed)
        inference.busyChanged.connect(self._status.set_busy)
        inference.devicesFound.connect(self._on_devices)
        inference.localModelsFound.connect(self._on_local_models)
        self._exports.written.connect(self._exported)
        self._exports.failed.connect(self._show_error)
        self._exports.message.connect(lambda text: self.statusBar().showMessage(text, 5000))

    def _connect_widgets(self) -> None:
        self._image_view.stepRequested.connect(self.step_image)
        self._image_view.gridToggled.connect(self._menus.grid.setChecked)
        self._filmstrip.imageChosen.connect(self.open_image)
        self._model_panel.modelChosen.connect(self.load_model)
        self._finetune.openInExplorer.connect(self._open_finetuned)

    def _restore_layout(self) -> None:
        settings = self._settings
        geometry, state = settings.window_geometry, settings.window_state
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 900)
        if state is not None:
            self.restoreState(state)
        self._menus.grid.setChecked(settings.show_grid)

    # --- the testable surface -----------------------------------------------------------------

    @property
    def model_summary(self) -> ModelSummary | None:
        return self.state.model

    @property
    def result(self) -> ImageResult | None:
        """The analysis on screen, with its image path and timings."""
        return self.state.result

    @property
    def view_map(self):
        """The `[g, g]` map painted over the image (None: no overlay)."""
        return self.state.view_map

    @property
    def busy(self) -> bool:
        """Whether the inference worker has requests in hand."""
        return self._inference.busy

    @property
    def image_view(self) -> ImageView:
        return self._image_view

    @property
    def views(self) -> ViewTabs:
        return self._views

    @property
    def rollout_controls(self):
        return self._views.rollout

    @property
    def model_panel(self) -> ModelPanel:
        return self._model_panel

    @property
    def filmstrip(self) -> Filmstrip:
        return self._filmstrip

    @property
    def finetune_panel(self) -> FinetunePanel:
        return self._finetune

    @property
    def menus(self) -> Menus:
        return self._menus

    @property
    def exporter(self) -> BatchExporter:
        """The folder export's worker (its progress and running state)."""
        return self._exports.exporter

    def overlay_kind(self) -> str:
        return self.state.overlay_kind

    def error_text(self) -> str:
        """The message in the error banner ('' when there is none)."""
        return self._banner.error_text()

    def load_model(self, path: str | Path, num_heads: int | None = None) -> None:
        """Load a model in the worker; the current image is analysed again once it is ready."""
        self.state.load_model(Path(path), num_heads)
        self.statusBar().showMessage(f"Loading model {Path(path).name}…")

    def _ask_head_count(self, request: HeadCountRequest) -> None:
        """A file without its head count: ask, then load it again with the answer."""
        heads = questions.ask_head_count(self, request) if self.interactive else None
        if heads is None:
            self.state.model_failed()
            self._show_error(request.message)
        else:
            self.load_model(request.path, heads)

    def set_device(self, device: str) -> None:
        """Run on 'auto', 'cpu', 'cuda' or 'mps' from now on (the model moves in the worker)."""
        self.state.set_device(device)
        if self.state.model_pending:
            self.statusBar().showMessage(f"Moving the model to {CHOICE_LABELS.get(device)}…")

    def open_image(self, path: str | Path) -> None:
        """Show and analyse an image; a folder opens as a filmstrip instead."""
        path = Path(path)
        if path.is_dir():
            self.open_folder(path)
            return
        self._settings.add_recent_file(path)
        self._settings.last_folder = path.parent
        self._filmstrip.show_image(path)
        self._update_enabled()
        self._image_view.set_placeholder(
            f"Analysing {path.name}…"
            if self.state.model or self.state.model_pending
            else f"{path.name} will be analysed once a model is open: Model ▸ Open Model…"
        )
        self.state.open_image(path)

    def open_folder(self, folder: str | Path) -> None:
        """Show a folder's images as a filmstrip and analyse the first one."""
        folder = Path(folder)
        try:
            files = folder_images(folder)
        except StudioError as exc:
            self._show_error(str(exc))
            return
        self._settings.add_recent_file(folder)
        self._settings.last_folder = folder
        self._filmstrip.set_paths(files, files[0])
        self.open_image(files[0])

    def open_paths(self, paths: Iterable[Path]) -> None:
        """What a drop does: open a model, a folder, or images (several make a filmstrip)."""
        paths = [Path(p) for p in paths]
        models = [p for p in paths if is_model_path(p)]
        folders = [p for p in paths if p.is_dir() and p not in models]
        images = sorted(p for p in paths if p.is_file() and is_image_path(p))
        if models:
            self.load_model(models[0])
        if folders:
            self.open_folder(folders[0])
        elif len(images) > 1:
            self._filmstrip.set_paths(images, images[0])
            self.open_image(images[0])
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

    def show_view(self, view: str) -> None:
        """Bring one tab to the front: one of `state.explorer.VIEWS`."""
        self._views.show_view(view)
        self._views_dock.show()
        wide = round(self.width() * FINETUNE_DOCK_SHARE)
        if view == "finetune" and self._views_dock.width() < wide:
            self.resizeDocks([self._views_dock], [wide], Qt.Orientation.Horizontal)

    def finetune_folder(self, folder: str | Path) -> None:
        """Show the fine-tune panel with the report of `folder`."""
        self.show_view("finetune")
        self._finetune.choose_folder(folder)

    def resume_finetune(self, checkpoint: str | Path) -> None:
        """Continue a fine-tune run from its M.checkpoint.pt, in the fine-tune panel."""
        self.show_view("finetune")
        self._finetune.resume_checkpoint(checkpoint)

    def show_pretrained(self) -> PretrainedDialog:
        """Model ▸ Get Pretrained…: the catalogue, and downloads in their own thread."""
        if self._pretrained is None:
            self._pretrained = PretrainedDialog(self)
            self._pretrained.modelReady.connect(self._open_pretrained)
        self._pretrained.refresh()
        self._pretrained.show()
        self._pretrained.raise_()
        return self._pretrained

    def get_pretrained(self, entry: CatalogueEntry) -> None:
        """Open a catalogued model, downloading it first (with the dialog) when it is not here."""
        path = local_path(entry)
        if path is not None:
            self.load_model(path)
        else:
            dialog = self.show_pretrained()
            dialog.select(entry.name)
            dialog.get(entry)

    def scan_local_models(self) -> None:
        """Look for models on this computer in the worker; fills the model list and menu."""
        self._model_panel.show_searching()
        self._inference.scan_local_models()

    def export_view_png(self, path: str | Path) -> None:
        """The image with its overlay and colour bar, beside the visible view, as a PNG."""
        background = self.palette().window().color()
        self._exports.view_png(Path(path), self._image_view, self._views.currentWidget(),
                               background)  # fmt: skip

    def export_analysis(self, path: str | Path) -> None:
        """The analysis as JSON or NPZ, chosen by the file's suffix."""
        self._exports.analysis(Path(path))

    def export_folder_csv(self, path: str | Path) -> None:
        """Top-5 predictions of every filmstrip image, in the background; progress in the
        status bar; `exportFinished(path)` when written."""
        self._exports.folder_csv(Path(path))

    def cancel_export(self) -> None:
        self._exports.cancel_folder()

    def show_notice(self, message: str) -> None:
        """A hint in the banner above the image (not an error)."""
        self._banner.show_notice(message)

    def shutdown(self, timeout_ms: int = STOP_TIMEOUT_MS) -> bool:
        """Stop every worker thread; True if all stopped within `timeout_ms` each."""
        if self._stopped:
            return True
        workers = (self._exports, self._inference, self._filmstrip)
        stopped = [worker.stop(timeout_ms) for worker in workers]
        stopped.append(self._finetune.shutdown(timeout_ms))
        if self._pretrained is not None:
            stopped.append(self._pretrained.stop(timeout_ms))
        self._stopped = all(stopped)
        return self._stopped

    # --- what the state and the workers say ---------------------------------------------------

    def _analyse(self, path: Path, gradient_classes) -> None:
        self._inference.analyze(path, gradient_classes)
        gradients = self.state.gradients_pending
        self.statusBar().showMessage(
            "Computing class gradients…" if gradients else f"Analysing {path.name}…"
        )

    def _on_model(self, summary: ModelSummary) -> None:
        self._settings.last_model = summary.path
        self._settings.add_recent_model(summary.path)
        self._model_panel.show_model(summary)
        given = summary.arch.num_heads if summary.heads_source == HEADS_GIVEN else None
        self._finetune.set_explorer_model(summary.path, summary.name, given)
        self._status.show_model(summary)
        self.statusBar().showMessage(f"Model {summary.name} ready on {summary.device_label}", 5000)
        self._banner.clear()
        self._update_title()
        self._update_enabled()
        self.modelReady.emit(summary)

    def _on_result(self, result: ImageResult) -> None:
        analysis = result.analysis
        self._status.show_timing(result)
        self._banner.clear()
        self._update_enabled()
        self.statusBar().showMessage(f"{result.path.name}: {best_prediction_text(analysis)}", 5000)
        self.analysisReady.emit(analysis)

    def _on_failed(self, kind: str, message: str) -> None:
        if kind == MODEL:
            self.state.model_failed()
        elif kind == ANALYSIS:
            self.state.analysis_failed()
        self._show_error(message)

    def _on_device(self, device: str) -> None:
        self._settings.device = device
        self._menus.select_device(device)
        self._finetune.set_device(device)

    def _on_devices(self, devices: list[str]) -> None:
        self._menus.show_devices(devices)
        self.state.devices_found(devices)
        self._menus.select_device(self.state.device)

    def _on_local_models(self, models: list[LocalModel]) -> None:
        self._model_panel.show_local_models(models)
        self._menus.show_local_models(models)

    # --- files --------------------------------------------------------------------------------

    def _open_pretrained(self, path: Path) -> None:
        self.load_model(path)
        self.scan_local_models()  # it is a model on this computer now

    def _open_finetuned(self, path: Path) -> None:
        """Open in Explorer: the fine-tuned model replaces the explorer's, predictions shown."""
        self.load_model(path)
        self.show_view("predictions")

    # --- window state -------------------------------------------------------------------------

    def _exported(self, path: Path, message: str) -> None:
        self.statusBar().showMessage(message, 10000)
        self.exportFinished.emit(path)

    def _show_error(self, message: str) -> None:
        self._banner.show_error(message)
        self.statusBar().showMessage("Error: " + message, 10000)
        self.errorShown.emit(message)

    def _update_title(self) -> None:
        parts = ["ViT Studio"]
        if self.state.image_path is not None:
            parts.append(self.state.image_path.name)
        if self.state.model is not None:
            parts.append(self.state.model.name)
        self.setWindowTitle(" — ".join(parts))

    def _update_enabled(self) -> None:
        self._menus.update_enabled(
            has_analysis=self.state.result is not None,
            can_export_folder=self.state.model is not None and bool(self._filmstrip.paths()),
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
