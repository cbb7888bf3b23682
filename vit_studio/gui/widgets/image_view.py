"""The image the model saw, with its patch grid and a heat map of one patch-level map on top.

The heat map is painted as a g × g image scaled without smoothing, so each patch stays a crisp
block and a control change costs one tiny QImage, not a full-size blend.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from vit_studio.gui import imaging
from vit_studio.gui.state.overlay import patch_label

GRID_COLOUR = QColor(255, 255, 255, 90)
SELECTION_COLOUR = QColor(0, 200, 255)
BAR_WIDTH = 14
TICKS = 5
DEFAULT_OPACITY = 0.6


class HeatMapCanvas(QWidget):
    """Paints the picture, the map, the grid and the selected patch; reports patch clicks."""

    patchClicked = Signal(int)  # row-major patch index, as in the engine
    stepRequested = Signal(int)  # -1 / +1: the arrow keys ask for the previous / next image

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._picture: QImage | None = None
        self._grid_size = 0
        self._map: QImage | None = None
        self._opacity = DEFAULT_OPACITY
        self._grid_visible = True
        self._selected: int | None = None
        self._placeholder = (
            "Open an image (Ctrl+O), drop files or a folder here, or pick a sample from "
            "File ▸ Samples."
        )
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 160)

    def sizeHint(self) -> QSize:
        return QSize(480, 480)

    def set_image(self, pixels: np.ndarray | None, grid_size: int) -> None:
        self._picture = None if pixels is None else imaging.rgb_to_qimage(pixels)
        self._grid_size = grid_size
        if self._selected is not None and self._selected >= grid_size * grid_size:
            self._selected = None
        self.update()

    def set_map_colours(self, colours: np.ndarray | None) -> None:
        """`[g, g, 3]` uint8 colours of the heat map, or None for no overlay."""
        self._map = None if colours is None else imaging.rgb_to_qimage(colours)
        self.update()

    def set_opacity(self, opacity: float) -> None:
        self._opacity = float(np.clip(opacity, 0.0, 1.0))
        self.update()

    def set_grid_visible(self, visible: bool) -> None:
        self._grid_visible = visible
        self.update()

    def set_selected_patch(self, patch: int | None) -> None:
        self._selected = patch
        self.update()

    def set_placeholder(self, text: str) -> None:
        """What to say while there is no picture."""
        self._placeholder = text
        self.update()

    def selected_patch(self) -> int | None:
        return self._selected

    def image_rect(self) -> QRectF:
        """Where the (square) picture is painted: as large as fits, centred."""
        side = min(self.width(), self.height())
        return QRectF((self.width() - side) / 2, (self.height() - side) / 2, side, side)

    def patch_rect(self, patch: int) -> QRectF:
        area = self.image_rect()
        cell = area.width() / self._grid_size
        row, column = divmod(patch, self._grid_size)
        return QRectF(area.x() + column * cell, area.y() + row * cell, cell, cell)

    def patch_at(self, point: QPointF) -> int | None:
        if self._picture is None or self._grid_size == 0:
            return None
        area = self.image_rect()
        if not area.contains(point):
            return None
        cell = area.width() / self._grid_size
        column = min(int((point.x() - area.x()) / cell), self._grid_size - 1)
        row = min(int((point.y() - area.y()) / cell), self._grid_size - 1)
        return row * self._grid_size + column

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self._picture is None:
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(
                self.rect(),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self._placeholder,
            )
            return
        area = self.image_rect()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(area, self._picture)
        if self._map is not None and self._opacity > 0:
            # Nearest-neighbour scaling keeps every patch one flat block of colour.
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            painter.setOpacity(self._opacity)
            painter.drawImage(area, self._map)
            painter.setOpacity(1.0)
        if self._grid_visible and self._grid_size > 1:
            painter.setPen(QPen(GRID_COLOUR, 1))
            cell = area.width() / self._grid_size
            for index in range(1, self._grid_size):
                x = area.x() + index * cell
                y = area.y() + index * cell
                painter.drawLine(QPointF(x, area.top()), QPointF(x, area.bottom()))
                painter.drawLine(QPointF(area.left(), y), QPointF(area.right(), y))
        if self._selected is not None:
            painter.setPen(QPen(SELECTION_COLOUR, 2))
            painter.drawRect(self.patch_rect(self._selected))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        patch = self.patch_at(event.position())
        if event.button() == Qt.MouseButton.LeftButton and patch is not None:
            self.set_selected_patch(patch)
            self.patchClicked.emit(patch)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        patch = self.patch_at(event.position())
        self.setToolTip(
            ""
            if patch is None
            else f"Patch {patch_label(patch, self._grid_size)}: click to see where it attends"
        )
        self.setCursor(
            Qt.CursorShape.PointingHandCursor if patch is not None else Qt.CursorShape.ArrowCursor
        )

    def keyPressEvent(self, event: QKeyEvent) -> None:
        steps = {Qt.Key.Key_Left: -1, Qt.Key.Key_Up: -1, Qt.Key.Key_Right: 1, Qt.Key.Key_Down: 1}
        step = steps.get(Qt.Key(event.key()))
        if step is None:
            super().keyPressEvent(event)
        else:
            self.stepRequested.emit(step)


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
    for overlay opacity and grid visibility.

    `patchClicked(index)` reports a click on a patch (row-major index, as in the engine).
    """

    patchClicked = Signal(int)
    stepRequested = Signal(int)
    opacityChanged = Signal(float)
    gridToggled = Signal(bool)

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
        if controls:
            row = QHBoxLayout()
            opacity_label = QLabel("Overlay opacity")
            opacity_label.setToolTip(self._opacity.toolTip())
            row.addWidget(opacity_label)
            row.addWidget(self._opacity, 1)
            row.addWidget(self._grid)
            layout.addLayout(row)
        else:
            self._canvas.set_grid_visible(False)

    @property
    def canvas(self) -> HeatMapCanvas:
        """The painted picture, for hit-testing (`patch_rect`) and tests."""
        return self._canvas

    def title(self) -> str:
        return self._title.text()

    def set_image(self, pixels: np.ndarray | None, grid_size: int = 0) -> None:
        self._canvas.set_image(pixels, grid_size)

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
        self._canvas.set_map_colours(imaging.colorize(grid_map, lut, low, high))
        self._colour_bar.set_scale(lut, low, high, label)
        self._title.setText(title)

    def clear_overlay(self, title: str = "") -> None:
        self._canvas.set_map_colours(None)
        self._colour_bar.set_scale(None, 0.0, 1.0, "")
        self._title.setText(title)

    def clear(self) -> None:
        self.clear_overlay()
        self._canvas.set_image(None, 0)
        self._canvas.set_selected_patch(None)

    def set_placeholder(self, text: str) -> None:
        self._canvas.set_placeholder(text)

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

    def _on_opacity(self, value: int) -> None:
        self._canvas.set_opacity(value / 100.0)
        self.opacityChanged.emit(value / 100.0)

    def _on_grid(self, visible: bool) -> None:
        self._canvas.set_grid_visible(visible)
        self.gridToggled.emit(visible)
