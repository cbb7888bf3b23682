"""The middle of the explorer, laid out around the picture: the message banner and the first-run
hint above, the controls that change the map (`widgets.image_controls`) in a narrow column to
its left, and the image with the map of the `ExplorerState` painted over it taking the rest.

Until an image has been analysed, the photo asked for is shown alone (decoded here, with
Pillow: no model is needed for it) under a line saying what it waits for, the model or its
analysis."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QVBoxLayout, QWidget

from vit_studio.engine.crop import photo_preview
from vit_studio.engine.errors import StudioError
from vit_studio.gui.settings import Settings
from vit_studio.gui.state.explorer import ExplorerState
from vit_studio.gui.state.overlay import Overlay
from vit_studio.gui.state.results import ImageResult
from vit_studio.gui.widgets.banner import Banner
from vit_studio.gui.widgets.image_controls import ImageControls
from vit_studio.gui.widgets.image_view import ImageView

FIRST_RUN_HINT = (
    "Click a patch to see where it attends · Ctrl-click a head under Attention to knock it out "
    "· {full_screen} full screen · Help ▸ Keyboard Shortcuts lists them all"
)


class ImagePane(QWidget):
    """Follows `state` (image, patch, overlay) and writes clicked patches to it; how the image
    is drawn (opacity, patch grid, photo or model input, smooth map) and whether the first-run
    hint was used are remembered in `settings`."""

    def __init__(
        self, state: ExplorerState, settings: Settings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.state = state
        self._settings = settings
        self.banner = Banner()
        self.hint = Banner()  # the first-run hint: gone for good once used or dismissed
        self.controls = ImageControls(state)
        self.image_view = ImageView()
        self.image_view.set_opacity(settings.overlay_opacity)
        self.image_view.set_grid_visible(settings.show_grid)
        self.image_view.set_show_model_input(settings.show_model_input)
        self.image_view.set_smooth_map(settings.smooth_map)
        self.controls.add_picture_options(self.image_view.options)
        picture = QHBoxLayout()
        picture.setContentsMargins(0, 0, 0, 0)
        picture.addWidget(self.controls)
        picture.addWidget(self.image_view, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.banner)
        layout.addWidget(self.hint)
        layout.addLayout(picture, 1)

        self.image_view.patchClicked.connect(state.select_patch)
        self.image_view.patchClicked.connect(lambda _patch: self.retire_hint())
        self.hint.dismissed.connect(self.retire_hint)
        self.image_view.opacityChanged.connect(
            lambda opacity: setattr(settings, "overlay_opacity", opacity)
        )
        self.image_view.gridToggled.connect(lambda shown: setattr(settings, "show_grid", shown))
        self.image_view.modelInputToggled.connect(
            lambda shown: setattr(settings, "show_model_input", shown)
        )
        self.image_view.smoothMapToggled.connect(
            lambda smooth: setattr(settings, "smooth_map", smooth)
        )
        state.result_changed.connect(self._show_result)
        state.patch_changed.connect(self.image_view.select_patch)
        state.overlay_changed.connect(self._paint)
        state.image_changed.connect(self._show_photo)
        state.model_requested.connect(lambda _path, _heads: self._say_what_it_waits_for())
        state.model_changed.connect(lambda _summary: self._say_what_it_waits_for())

    def offer_hint(self, full_screen_keys: QKeySequence) -> None:
        """Show the first-run hint, unless the user has already used or dismissed it."""
        if not self._settings.first_run_hint_used:
            keys = full_screen_keys.toString(QKeySequence.SequenceFormat.NativeText)
            self.hint.show_notice(FIRST_RUN_HINT.format(full_screen=keys))

    def retire_hint(self) -> None:
        """The hint has done its job: hide it, now and in later sessions."""
        self.hint.clear()
        if not self._settings.first_run_hint_used:
            self._settings.first_run_hint_used = True

    def waiting_text(self) -> str:
        """What the photo on screen waits for, before its first analysis."""
        state, path = self.state, self.state.image_path
        name = path.name if path is not None else "the image"
        if state.model is None and state.model_pending and state.requested_model is not None:
            return f"Loading the model {state.requested_model.name}…"
        if state.model is not None or state.model_pending:
            return f"Analysing {name}…"
        return f"{name} will be analysed once a model is open: Model ▸ Open Model…"

    def _show_photo(self, path: Path) -> None:
        """The photo alone while nothing has been analysed yet; after that, the last analysis
        stays on screen until the new one replaces it."""
        if self.state.result is not None:
            return
        try:
            pixels = photo_preview(path)
        except StudioError:
            pixels = None  # its analysis fails too, and says why
        self.image_view.show_photo(pixels, self.waiting_text())

    def _say_what_it_waits_for(self) -> None:
        if self.state.result is None and self.state.image_path is not None:
            self.image_view.set_waiting_text(self.waiting_text())

    def _show_result(self, result: ImageResult) -> None:
        analysis = result.analysis
        self.image_view.set_image(analysis.pixels, analysis.grid_size, result.original)
        self.image_view.select_patch(self.state.patch)
        if self.state.overlay is not None:
            self._paint(self.state.overlay)

    def _paint(self, overlay: Overlay) -> None:
        """Paint the chosen map of the cached analysis over the image (no model involved)."""
        if overlay.grid_map is None:
            self.image_view.clear_overlay(overlay.title)
            return
        self.image_view.set_overlay(
            overlay.grid_map, overlay.title, overlay.label,
            vmin=overlay.vmin, vmax=overlay.vmax, colormap=overlay.colormap,
        )  # fmt: skip
