"""The middle of the explorer: the message banner, the overlay chooser and the image with the
map of the `ExplorerState` painted over it, patch grid and colour bar included."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from vit_studio.gui.settings import Settings
from vit_studio.gui.state.explorer import ExplorerState
from vit_studio.gui.state.overlay import OVERLAYS, Overlay
from vit_studio.gui.state.results import ImageResult
from vit_studio.gui.widgets.banner import Banner
from vit_studio.gui.widgets.image_view import ImageView


class ImagePane(QWidget):
    """Follows `state` (image, patch, overlay) and writes the overlay choice and clicked patches
    to it; opacity and the patch grid are remembered in `settings`."""

    def __init__(
        self, state: ExplorerState, settings: Settings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._state = state
        self.banner = Banner()
        self._chooser = QComboBox()
        for key, label in OVERLAYS.items():
            self._chooser.addItem(label, key)
        self._chooser.setToolTip(
            "Which patch map to paint over the image. Moving a rollout control, clicking an "
            "attention thumbnail or clicking a patch switches it for you."
        )
        self._chooser.setCurrentIndex(self._chooser.findData(state.overlay_kind))
        label = QLabel("Show on image")
        label.setToolTip(self._chooser.toolTip())
        row = QHBoxLayout()
        row.addWidget(label)
        row.addWidget(self._chooser, 1)
        self.image_view = ImageView()
        self.image_view.set_opacity(settings.overlay_opacity)
        self.image_view.set_grid_visible(settings.show_grid)
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addLayout(row)
        layout.addWidget(self.image_view, 1)

        self._chooser.currentIndexChanged.connect(
            lambda _row: state.set_overlay_kind(self._chooser.currentData())
        )
        self.image_view.patchClicked.connect(state.select_patch)
        self.image_view.opacityChanged.connect(
            lambda opacity: setattr(settings, "overlay_opacity", opacity)
        )
        self.image_view.gridToggled.connect(lambda shown: setattr(settings, "show_grid", shown))
        state.result_changed.connect(self._show_result)
        state.patch_changed.connect(self.image_view.select_patch)
        state.overlay_changed.connect(self._paint)
        state.overlay_kind_changed.connect(self._show_kind)

    def _show_result(self, result: ImageResult) -> None:
        analysis = result.analysis
        self.image_view.set_image(analysis.pixels, analysis.grid_size)
        self.image_view.select_patch(self._state.patch)
        if self._state.overlay is not None:
            self._paint(self._state.overlay)

    def _paint(self, overlay: Overlay) -> None:
        """Paint the chosen map of the cached analysis over the image (no model involved)."""
        if overlay.grid_map is None:
            self.image_view.clear_overlay(overlay.title)
            return
        self.image_view.set_overlay(
            overlay.grid_map, overlay.title, overlay.label,
            vmin=overlay.vmin, vmax=overlay.vmax, colormap=overlay.colormap,
        )  # fmt: skip

    def _show_kind(self, kind: str) -> None:
        with QSignalBlocker(self._chooser):
            self._chooser.setCurrentIndex(max(0, self._chooser.findData(kind)))
