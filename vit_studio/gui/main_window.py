"""The explorer window: composes the views around the `ExplorerState`, and never waits.

What the explorer shows lives in `state.explorer.ExplorerState` (no Qt); this window builds the
widgets, passes what the user does to the state, paints what the state says, hands the state's
requests to the workers (models load and images are analysed in the `InferenceClient`'s thread) and
their answers back. The image with the controls beside it is `image_pane`, the split into two panes
`split_view`, the side panels and how they are remembered `layout`, the views `view_tabs`, the
menus and toolbar `menus`, the file dialogs `dialogs`, the exports `exports`, the status bar
`widgets.status_bar`, the light or dark colours of what the app paints itself `theme`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, Signal
from PySide6.QtGui import QCloseEvent, QShowEvent
from PySide6.QtWidgets import QMainWindow

from vit_studio.engine.analysis import Analysis, best_prediction_text
from vit_studio.engine.device import CHOICE_LABELS
from vit_studio.engine.errors import StudioError
from vit_studio.gui import questions, theme
from vit_studio.gui.ablation import connect_ablation
from vit_studio.gui.compare_pane import ComparePane
from vit_studio.gui.cpu import limit_blas_threads
from vit_studio.gui.dialogs import FileDialogs
from vit_studio.gui.drops import FileDropTarget, sort_dropped
from vit_studio.gui.exports import Exports
from vit_studio.gui.finetune_tab import FinetuneTab
from vit_studio.gui.image_pane import ImagePane
from vit_studio.gui.layout import WindowLayout
from vit_studio.gui.menu_actions import connect_menus
from vit_studio.gui.menus import Menus
from vit_studio.gui.pretrained import Pretrained
from vit_studio.gui.settings import Settings
from vit_studio.gui.shortcuts import ShortcutsDialog
from vit_studio.gui.split_view import SplitView
from vit_studio.gui.state.explorer import ExplorerState
from vit_studio.gui.state.results import HeadCountRequest, ImageResult, ModelSummary
from vit_studio.gui.trust import connect_trust
from vit_studio.gui.view_tabs import ViewTabs
from vit_studio.gui.widgets.banner import Banner
from vit_studio.gui.widgets.filmstrip import Filmstrip, folder_images
from vit_studio.gui.widgets.image_controls import ImageControls
from vit_studio.gui.widgets.image_view import ImageView
from vit_studio.gui.widgets.model_panel import ModelPanel
from vit_studio.gui.widgets.status_bar import StatusBar
from vit_studio.gui.workers.batch_export import BatchExporter
from vit_studio.gui.workers.inference import ANALYSIS, MODEL, InferenceClient

if TYPE_CHECKING:
    from vit_studio.engine.checkpoints.discovery import LocalModel
    from vit_studio.engine.hub import CatalogueEntry
    from vit_studio.gui.finetune.panel import FinetunePanel
    from vit_studio.gui.pretrained_dialog import PretrainedDialog

STOP_TIMEOUT_MS = 5000
PALETTE_EVENTS = (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange)


class MainWindow(FileDropTarget, QMainWindow):
    """The explorer. Drive it from code with `load_model`, `open_image`, `open_folder`, ... or
    through its `state`.

    `analysisReady(Analysis)` is emitted once the views show a new analysis, `modelReady`
    once the model panel shows a newly loaded (or moved) model, `errorShown(message)` when a
    failure is reported, `exportFinished(path)` when an export has been written. With
    `hold_inference`, nothing loads or is analysed before `release_inference()`."""

    analysisReady = Signal(Analysis)
    modelReady = Signal(ModelSummary)
    errorShown = Signal(str)
    exportFinished = Signal(Path)

    def __init__(self, settings: Settings | None = None, *, num_threads: int | None = None,
                 hold_inference: bool = False) -> None:  # fmt: skip
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
        self._inference = InferenceClient(self, num_threads, held=hold_inference)
        self.release_inference = self._inference.release
        self._dialogs = FileDialogs(self, self._settings)
        self._build()
        self._menus = Menus(self, self._settings, self._layout.docks)
        self._connect_state()
        self._connect_workers()
        self._connect_widgets()
        connect_menus(self, self._menus, self._dialogs)
        self._layout.restore(self._settings)
        self._menus.grid.setChecked(self._settings.show_grid)
        self._pane.offer_hint(self._menus.full_screen.shortcut())
        theme.follow_palette(self)
        self.setAcceptDrops(True)
        self._update_title()
        self._update_enabled()
        if self._settings.reset_note:
            self._banner.show_notice(self._settings.reset_note, sticky=True)

    # --- building -----------------------------------------------------------------------------

    def _build(self) -> None:
        self._pane = ImagePane(self.state, self._settings)
        self._banner, self._image_view = self._pane.banner, self._pane.image_view
        self._split = SplitView(self._pane, lambda: ComparePane(
            self.state, self._settings, self._dialogs, self._num_threads, self.interactive))
        self.setCentralWidget(self._split)

        self._finetune = FinetuneTab(self.state, self._settings.finetune_runs_dir,
                                     self._num_threads, self._open_finetuned)  # fmt: skip
        self._views = ViewTabs(self.state, self._finetune.make)
        self._model_panel = ModelPanel()
        self._filmstrip = Filmstrip()
        self._layout = WindowLayout(self, self._views, self._model_panel, self._filmstrip,
                                    self._split)  # fmt: skip
        self._status = StatusBar()
        self.setStatusBar(self._status)
        self._pretrained = Pretrained(self, self.load_model, self._open_pretrained)
        self.interactive = True  # False: nobody answers questions (--screenshot); they fail
        self._exports = Exports(self.state, self._status, self._filmstrip.paths, self,
                                self._num_threads)  # fmt: skip

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
        self._views.when_built("trust", lambda view: connect_trust(
            view, inference, lambda: self.state.image_path, self._filmstrip.paths))  # fmt: skip
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
        self._model_panel.scanRequested.connect(self.scan_local_models)
        self._split.splitChanged.connect(self._menus.split_view.setChecked)

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
    def image_controls(self) -> ImageControls:
        """The column beside the image: map, rollout, class, layer and head."""
        return self._pane.controls

    @property
    def rollout_controls(self):
        return self._pane.controls.rollout

    @property
    def layout_manager(self) -> WindowLayout:
        """The side panels (docks) and how they are remembered."""
        return self._layout

    @property
    def first_run_hint(self):
        """The hint over the image (a `widgets.banner.Banner`), hidden once used."""
        return self._pane.hint

    @property
    def split_view(self) -> SplitView:
        """The central area; `split_view.compare` is the second pane once the split was opened."""
        return self._split

    @property
    def model_panel(self) -> ModelPanel:
        return self._model_panel

    @property
    def filmstrip(self) -> Filmstrip:
        return self._filmstrip

    @property
    def finetune_panel(self) -> FinetunePanel:
        """The Fine-tune tab's panel (built now if it was not yet)."""
        return self._views.finetune

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
        dropped = sort_dropped(paths)
        if dropped.model is not None:
            self.load_model(dropped.model)
        if dropped.folder is not None:
            self.open_folder(dropped.folder)
        elif dropped.images:
            if len(dropped.images) > 1:
                self._filmstrip.set_paths(dropped.images, dropped.images[0])
            self.open_image(dropped.images[0])
        elif dropped.problem:
            self._show_error(dropped.problem)

    def step_image(self, delta: int) -> None:
        """Move `delta` images along the filmstrip."""
        self._filmstrip.step(delta)

    def show_view(self, view: str) -> None:
        """Bring one tab to the front: one of `state.explorer.VIEWS`."""
        self._views.show_view(view)
        self._layout.show_views()
        self._layout.fit_view()

    def set_full_screen(self, full: bool) -> None:
        """Give the screen to the window (View ▸ Full Screen, F11), or take it back."""
        self._layout.set_full_screen(full)

    def set_split(self, split: bool) -> None:
        """Two panes side by side (View ▸ Split View), each with its own controls, or one."""
        self._split.set_split(split)

    def show_shortcuts(self) -> ShortcutsDialog:
        """Help ▸ Keyboard Shortcuts: every shortcut of the menus, read from their actions."""
        dialog = ShortcutsDialog(self.menuBar(), self)
        dialog.setModal(False)
        dialog.show()
        return dialog

    def finetune_folder(self, folder: str | Path) -> None:
        """Show the fine-tune panel with the report of `folder`."""
        self.show_view("finetune")
        self.finetune_panel.choose_folder(folder)

    def resume_finetune(self, checkpoint: str | Path) -> None:
        """Continue a fine-tune run from its M.checkpoint.pt, in the fine-tune panel."""
        self.show_view("finetune")
        self.finetune_panel.resume_checkpoint(checkpoint)

    def show_pretrained(self) -> PretrainedDialog:
        """Model ▸ Get Pretrained…: the catalogue, and downloads in their own thread."""
        return self._pretrained.show()

    def get_pretrained(self, entry: CatalogueEntry) -> None:
        """Open a catalogued model, downloading it first (with the dialog) when it is not here."""
        self._pretrained.get(entry)

    def scan_local_models(self) -> None:
        """Look for models on this computer in the worker; fills the model list and menu."""
        self._model_panel.show_searching()
        self._inference.scan_local_models()

    def export_view_png(self, path: str | Path) -> None:
        """The image with its overlay and colour bar, beside the visible view (in split view,
        beside the other pane's image: what is compared), as a PNG."""
        beside = self._split.compare.image_view if self._split.is_split() else None
        self._exports.view_png(Path(path), self._image_view, beside or self._views.current_page(),
                               self.palette().window().color())  # fmt: skip

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
        workers = (self._exports, self._inference, self._filmstrip, self._split)
        stopped = [worker.stop(timeout_ms) for worker in workers]
        stopped.append(self._finetune.shutdown(timeout_ms))
        stopped.append(self._pretrained.stop(timeout_ms))
        self._stopped = all(stopped)
        return self._stopped

    # --- what the state and the workers say ---------------------------------------------------

    def _analyse(self, path: Path, gradient_classes, attnlrp_classes) -> None:
        self._inference.analyze(path, gradient_classes, attnlrp_classes)
        gradients = self.state.gradients_pending
        self.statusBar().showMessage(
            "Computing class gradients…" if gradients else f"Analysing {path.name}…"
        )

    def _on_model(self, summary: ModelSummary) -> None:
        self._settings.last_model = summary.path
        self._settings.add_recent_model(summary.path)
        self._model_panel.show_model(summary)
        self._finetune.follow_model(summary)
        self._status.show_model(summary)
        self.statusBar().showMessage(f"Model {summary.name} ready on {summary.device_label}", 5000)
        self._banner.clear_stale()
        self._update_title()
        self._update_enabled()
        self.modelReady.emit(summary)

    def _on_result(self, result: ImageResult) -> None:
        analysis = result.analysis
        self._status.show_timing(result)
        self._banner.clear_stale()
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
        self._finetune.follow_device(device)

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

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._layout.settle()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in PALETTE_EVENTS:  # the system switched between light and dark
            theme.follow_palette(self)
            for banner in self.findChildren(Banner):  # a style sheet keeps them from hearing it
                banner.restyle()
        elif event.type() == QEvent.Type.WindowStateChange:
            self._menus.full_screen.setChecked(self.isFullScreen())

    def closeEvent(self, event: QCloseEvent) -> None:
        self._layout.save(self._settings)
        self._settings.sync()
        self.shutdown()
        event.accept()
