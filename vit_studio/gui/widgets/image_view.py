"""The picture with a heat map of one patch-level map on top, its colour bar, and the controls
for how it is drawn: opacity, patch grid, the user's photo or the model's input, blocky or smooth
map. The painting itself is `heat_map_canvas.HeatMapCanvas`.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from vit_studio.engine.crop import OriginalImage
from vit_studio.gui import imaging
from vit_studio.gui.widgets.heat_map_canvas import DEFAULT_OPACITY, HeatMapCanvas

BAR_WIDTH = 14
PICTURE_SPACING = 2  # pixels between the title, the picture and the row of toggles
TICKS = 5


class ColorBar(QWidget):
    """A vertical colour scale with ticks and a rotated label saying what the colours measure."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._lut: np.ndarray | None = None
        self._range = (0.0, 1.0)
        self._label = ""
        self._ticks: list[tuple[float, str]] = []
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)

    def set_scale(self, lut: np.ndarray | None, vmin: float, vmax: float, label: str) -> None:
        self._lut, self._range, self._label = lut, (vmin, vmax), label
        self._ticks = [(v, f"{v:.3g}") for v in np.linspace(vmin, vmax, TICKS)] if label else []
        self.setToolTip(f"{label}: from {vmin:.3g} (bottom) to {vmax:.3g} (top)" if label else "")
        self.updateGeometry()  # the tick labels decide the width
        self.update()

    def _tick_width(self) -> int:
        texts = [text for _, text in self._ticks] or ["-0.00"]
        return max(self.fontMetrics().horizontalAdvance(text) for text in texts)

    def sizeHint(self) -> QSize:
        return QSize(BAR_WIDTH + 12 + self._tick_width() + self.fontMetrics().height(), 200)

    def paintEvent(self, event: QPaintEvent) -> None:
        if self._lut is None:
            return
        painter = QPainter(self)
        metrics = self.fontMetrics()
        line = metrics.height()
        top, height = line // 2, self.height() - line
        bar = imaging.colorbar_rgb(self._lut, height, BAR_WIDTH)
        painter.drawImage(0, top, imaging.rgb_to_qimage(bar))
        painter.setPen(self.palette().text().color())
        low, high = self._range
        tick_width = self._tick_width()
        for value, text in self._ticks:
            y = top + round((high - value) / (high - low or 1.0) * (height - 1))
            painter.drawLine(BAR_WIDTH, y, BAR_WIDTH + 3, y)
            painter.drawText(
                QRect(BAR_WIDTH + 5, y - line, tick_width, 2 * line),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                text,
            )
        painter.translate(BAR_WIDTH + 10 + tick_width, top + height)
        painter.rotate(-90)
        painter.drawText(QRect(0, 0, height, line), Qt.AlignmentFlag.AlignCenter, self._label)


class ImageView(QWidget):
    """Title, picture with heat map and patch grid, colour bar, and (optionally) the controls
    for overlay opacity, grid visibility, photo or model input, and blocky or smooth maps.

    `patchClicked(index)` reports a click on a patch (row-major index, as in the engine); the
    `...Changed` / `...Toggled` signals report the controls, for remembering them.
    """

    patchClicked = Signal(int)
    stepRequested = Signal(int)
    opacityChanged = Signal(float)
    gridToggled = Signal(bool)
    modelInputToggled = Signal(bool)  # True: the model's input is shown instead of the photo
    smoothMapToggled = Signal(bool)  # True: maps are interpolated; False: one block per patch

    def __init__(self, parent: QWidget | None = None, *, controls: bool = True) -> None:
        super().__init__(parent)
        self._title = QLabel()
        self._title.setWordWrap(True)
        self._title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        font = self._title.font()
        font.setBold(True)
        self._title.setFont(font)
        self._canvas = HeatMapCanvas()
        self._canvas.patchClicked.connect(self.patchClicked)
        self._canvas.stepRequested.connect(self.stepRequested)
        self._colour_bar = ColorBar()

        picture = QHBoxLayout()
        picture.addWidget(self._canvas, 1)
        picture.addWidget(self._colour_bar)
        layout = QVBoxLayout(self)
        # No frame of its own: the pane around it has one, and every pixel of height goes to the
        # picture (a square model input is as wide as the height lets it be).
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(PICTURE_SPACING)
        layout.addWidget(self._title)
        layout.addLayout(picture, 1)

        self._opacity = QSlider(Qt.Orientation.Horizontal)
        self._opacity.setRange(0, 100)
        self._opacity.setValue(round(DEFAULT_OPACITY * 100))
        self._opacity.setToolTip("How strongly the heat map covers the image (0: image only)")
        self._opacity.valueChanged.connect(self._on_opacity)
        self._grid = QCheckBox("Patch grid")
        self._grid.setChecked(True)
        self._grid.setToolTip("Draw the lines between the patches the model cuts the image into")
        self._grid.toggled.connect(self._on_grid)
        self._model_input = QCheckBox("Show what the model sees")
        self._model_input.setToolTip(
            "Show the model's input (the resized centre crop, at its own few pixels) instead "
            "of your photo with the crop outlined"
        )
        self._model_input.setEnabled(False)  # until there is a photo to tell apart from it
        self._model_input.toggled.connect(self._on_model_input)
        self._smooth = QCheckBox("Smooth map")
        self._smooth.setToolTip(
            "Interpolate the map between patch centres. Off: one flat block per patch, which "
            "is what the model computes"
        )
        self._smooth.toggled.connect(self._on_smooth)
        # The toggles, in a column for the owner to place (beside the picture, with the other
        # controls): under it they would take height from the picture.
        self.options: QWidget | None = None
        if controls:
            self.options = QWidget()
            column = QVBoxLayout(self.options)
            column.setContentsMargins(0, 0, 0, 0)
            opacity_label = QLabel("Overlay opacity")
            opacity_label.setToolTip(self._opacity.toolTip())
            for widget in (opacity_label, self._opacity, self._grid, self._smooth,
                           self._model_input):  # fmt: skip
                column.addWidget(widget)
        else:
            self._canvas.set_grid_visible(False)

    @property
    def canvas(self) -> HeatMapCanvas:
        """The painted picture, for hit-testing (`patch_rect`) and tests."""
        return self._canvas

    def title(self) -> str:
        return self._title.text()

    def set_image(
        self, pixels: np.ndarray | None, grid_size: int = 0, original: OriginalImage | None = None
    ) -> None:
        """The model input (`Analysis.pixels`) and, to paint maps over the photo itself, the
        photo it was cut from (`ImageResult.original`)."""
        self._canvas.set_image(pixels, grid_size, original)
        self._model_input.setEnabled(original is not None)

    def set_overlay(
        self,
        grid_map: np.ndarray,
        title: str,
        label: str,
        *,
        vmin: float | None = None,
        vmax: float | None = None,
        colormap: str = imaging.DEFAULT_COLORMAP,
    ) -> None:
        """Show a `[g, g]` map over the picture; the range defaults to the map's own."""
        low = float(grid_map.min()) if vmin is None else vmin
        high = float(grid_map.max()) if vmax is None else vmax
        lut = imaging.colormap_lut(colormap)
        self._canvas.set_map(grid_map, lut, low, high)
        self._colour_bar.set_scale(lut, low, high, label)
        self._title.setText(title)

    def clear_overlay(self, title: str = "") -> None:
        self._canvas.set_map(None)
        self._colour_bar.set_scale(None, 0.0, 1.0, "")
        self._title.setText(title)

    def clear(self) -> None:
        self.clear_overlay()
        self.set_image(None, 0)
        self._canvas.set_selected_patch(None)

    def set_placeholder(self, text: str) -> None:
        self._canvas.set_placeholder(text)

    def show_photo(self, pixels: np.ndarray | None, waiting_for: str) -> None:
        """The user's photo alone, before its analysis, under what it waits for ("Loading the
        model…"); None: no photo to show, the words alone."""
        self._canvas.set_preview(pixels)
        self.set_waiting_text(waiting_for)

    def set_waiting_text(self, text: str) -> None:
        """What the photo shown alone waits for (as the title; without a photo, in its place)."""
        self._canvas.set_placeholder(text)
        self._title.setText(text if self._canvas.showing_preview() else "")

    def select_patch(self, patch: int | None) -> None:
        self._canvas.set_selected_patch(patch)

    def opacity(self) -> float:
        return self._opacity.value() / 100.0

    def set_opacity(self, opacity: float) -> None:
        self._opacity.setValue(round(opacity * 100))

    def grid_visible(self) -> bool:
        return self._grid.isChecked()

    def set_grid_visible(self, visible: bool) -> None:
        self._grid.setChecked(visible)
        self._canvas.set_grid_visible(visible)

    def showing_model_input(self) -> bool:
        """The choice, whether or not there is a photo to show instead."""
        return self._model_input.isChecked()

    def set_show_model_input(self, shown: bool) -> None:
        self._model_input.setChecked(shown)
        self._canvas.set_show_model_input(shown)

    def smooth_map(self) -> bool:
        return self._smooth.isChecked()

    def set_smooth_map(self, smooth: bool) -> None:
        self._smooth.setChecked(smooth)
        self._canvas.set_smooth_map(smooth)

    def _on_opacity(self, value: int) -> None:
        self._canvas.set_opacity(value / 100.0)
        self.opacityChanged.emit(value / 100.0)

    def _on_grid(self, visible: bool) -> None:
        self._canvas.set_grid_visible(visible)
        self.gridToggled.emit(visible)

    def _on_model_input(self, shown: bool) -> None:
        self._canvas.set_show_model_input(shown)
        self.modelInputToggled.emit(shown)

    def _on_smooth(self, smooth: bool) -> None:
        self._canvas.set_smooth_map(smooth)
        self.smoothMapToggled.emit(smooth)
