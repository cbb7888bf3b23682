"""The Rollout tab: the rollout map started at every layer, side by side, so the user sees what
the start-layer control would do before moving it; clicking one starts the rollout there.

The maps come from the cached analysis with the rollout settings in effect (only the start layer
varies), through the same `state.overlay.overlay_for` the image uses, so a thumbnail is exactly
the map the image would show.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from vit_studio.engine.analysis import Analysis
from vit_studio.gui import imaging
from vit_studio.gui.state.overlay import overlay_for
from vit_studio.gui.state.rollout import RolloutSettings

THUMBNAIL = 88  # logical pixels; drawn at the screen's device pixel ratio
CELL = THUMBNAIL + 20  # a map's button with its padding, for how many fit in a row
NOTE = (
    "Attention rollout follows how attention flows to the class token through the layers; the "
    "class-specific rollout weights it by the gradient of the chosen class. Each map starts the "
    "rollout at another layer: click one to use it. The controls beside the image set the rest."
)


def thumbnail_icon(grid_map: np.ndarray, lut: np.ndarray, side: int, ratio: float) -> QIcon:
    """A `[g, g]` map (0..1) as a crisp, nearest-neighbour icon of `side` logical pixels."""
    pixels = max(1, round(side * ratio))
    colours = imaging.colorize(imaging.upsample_nearest(grid_map, pixels, pixels), lut, 0.0, 1.0)
    pixmap = QPixmap.fromImage(imaging.rgb_to_qimage(colours))
    pixmap.setDevicePixelRatio(ratio)
    return QIcon(pixmap)


class RolloutLayers(QWidget):
    """See the module. `startLayerChosen(layer)` (0-based) when the user clicks a map."""

    startLayerChosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = QLabel("Analyse an image to see its rollout from every layer.")
        font = self._title.font()
        font.setBold(True)
        self._title.setFont(font)
        self._title.setWordWrap(True)
        note = QLabel(NOTE)
        note.setWordWrap(True)
        self._grid = QGridLayout()
        self._grid.setSpacing(4)
        self._buttons = QButtonGroup(self)
        self._buttons.idClicked.connect(self.startLayerChosen)
        self._columns = 0
        self._shown: tuple | None = None  # what the maps are of
        grid_holder = QWidget()
        holder = QVBoxLayout(grid_holder)
        holder.addLayout(self._grid)
        holder.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(grid_holder)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.addWidget(self._title)
        layout.addWidget(scroll, 1)
        layout.addWidget(note)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

    def title(self) -> str:
        return self._title.text()

    def count(self) -> int:
        """How many maps are shown (one per start layer)."""
        return len(self._buttons.buttons())

    def button(self, layer: int) -> QToolButton:
        return self._buttons.button(layer)

    def chosen(self) -> int | None:
        """The start layer in use (0-based), outlined among the maps."""
        chosen = self._buttons.checkedId()
        return None if chosen < 0 else chosen

    def show_analysis(
        self, analysis: Analysis, settings: RolloutSettings, class_index: int | None
    ) -> None:
        """One map per start layer of `analysis`, with `settings` otherwise."""
        # Another start layer alone changes no map, only which one is outlined.
        key = (replace(settings, start_layer=0), class_index)
        if self._shown is not None and self._shown[0] is analysis and self._shown[1] == key:
            self.select(settings.start_layer)
            return
        self._clear()
        self._shown = (analysis, key)
        maps = [
            overlay_for(
                analysis, "rollout", replace(settings, start_layer=layer),
                layer=-1, head=-1, patch=None, class_index=class_index,
            )  # fmt: skip
            for layer in range(analysis.num_layers)
        ]
        if any(shown.grid_map is None for shown in maps):
            self._title.setText(maps[0].title)  # gradients on their way, or no class to explain
            self._shown = None
            return
        kind = "Class-specific rollout" if settings.mode == "gradient" else "Attention rollout"
        self._title.setText(f"{kind} started at each layer")
        ratio = self.devicePixelRatioF()
        for layer, shown in enumerate(maps):
            button = QToolButton()
            button.setCheckable(True)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.setIcon(thumbnail_icon(shown.grid_map, imaging.colormap_lut(), THUMBNAIL, ratio))
            button.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
            button.setText(f"from layer {layer + 1}")
            button.setToolTip(f"{shown.title}: click to start the rollout here")
            self._buttons.addButton(button, layer)
        self._place(again=True)
        self.select(settings.start_layer)

    def select(self, layer: int) -> None:
        """Outline the map of start layer `layer` without emitting."""
        button = self._buttons.button(layer)
        if button is not None:
            button.setChecked(True)

    def clear(self) -> None:
        self._clear()
        self._title.setText("Analyse an image to see its rollout from every layer.")

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place()

    def _place(self, *, again: bool = False) -> None:
        """As many maps in a row as the width holds: the tab may be a narrow dock."""
        columns = max(1, (self.width() - 24) // CELL)
        if columns == self._columns and not again:
            return
        self._columns = columns
        buttons = sorted(self._buttons.buttons(), key=self._buttons.id)
        for button in buttons:
            self._grid.removeWidget(button)
        for layer, button in enumerate(buttons):
            self._grid.addWidget(button, *divmod(layer, columns))

    def _clear(self) -> None:
        self._shown = None
        for button in self._buttons.buttons():
            self._buttons.removeButton(button)
            button.deleteLater()

