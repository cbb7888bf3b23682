"""The picture with a patch map over it: the user's photo with the model's centre crop outlined
(what was cut off dimmed), or the model's input itself; the map, the patch grid and the selected
patch lie over the crop either way.

Where things go comes from one `engine.crop.CropGeometry` per mode (the photo's crop, or the
model input as a crop of itself), so painting, hit-testing and the engine's geometry tests agree
by construction. The picture is scaled once per size to the screen's device pixels (sharp on
high-DPI screens); a blocky map is a g × g image scaled without smoothing (each patch one flat
block), a smooth map is interpolated in value, then coloured, so every pixel has a colour of
the colour map.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPainterPath,
    QPaintEvent,
    QPen,
)
from PySide6.QtWidgets import QSizePolicy, QWidget

from vit_studio.engine.crop import CropGeometry, OriginalImage
from vit_studio.gui import imaging
from vit_studio.gui.state.overlay import patch_label

GRID_COLOUR = QColor(255, 255, 255, 90)
SELECTION_COLOUR = QColor(0, 200, 255)
CROP_COLOUR = QColor(255, 255, 255, 230)
CROP_SHADOW = QColor(0, 0, 0, 140)  # under the outline, so it shows on white photos too
DIM_COLOUR = QColor(0, 0, 0, 150)  # over what the centre crop cut off
DEFAULT_OPACITY = 0.6
MAX_SMOOTH_SIDE = 1024  # a smooth map is interpolated up to this many pixels; Qt scales the rest


class HeatMapCanvas(QWidget):
    """Paints the picture, the map, the grid and the selected patch; reports patch clicks."""

    patchClicked = Signal(int)  # row-major patch index, as in the engine
    stepRequested = Signal(int)  # -1 / +1: the arrow keys ask for the previous / next image

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._input: QImage | None = None
        self._input_geometry = CropGeometry.whole(1, 1)
        self._original: OriginalImage | None = None
        self._original_picture: QImage | None = None
        self._preview: QImage | None = None  # the photo alone, until its analysis comes
        self._grid_size = 0
        self._show_model_input = False
        self._smooth = False
        self._values: np.ndarray | None = None
        self._lut: np.ndarray | None = None
        self._range = (0.0, 1.0)
        self._blocky_map: QImage | None = None
        self._smooth_map: tuple[tuple[int, int], QImage] | None = None
        self._scaled_picture: tuple[tuple, QImage] | None = None
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

    # --- what to show -------------------------------------------------------------------------

    def set_image(
        self, pixels: np.ndarray | None, grid_size: int, original: OriginalImage | None = None
    ) -> None:
        """The model input (`[s, s, 3]` uint8) cut in `grid_size²` patches, and the photo it
        was cut from (None: the model input is all there is to show)."""
        self._input = None if pixels is None else imaging.rgb_to_qimage(pixels)
        self._input_geometry = CropGeometry.whole(
            1 if pixels is None else pixels.shape[1], max(grid_size, 1)
        )
        self._original = original
        self._original_picture = None if original is None else imaging.rgb_to_qimage(
            original.pixels
        )
        self._preview = None
        self._grid_size = grid_size
        self._scaled_picture = None
        if self._selected is not None and self._selected >= grid_size * grid_size:
            self._selected = None
        self.update()

    def set_preview(self, pixels: np.ndarray | None) -> None:
        """The user's photo (`[h, w, 3]` uint8) to show whole while nothing about it is known
        yet (no model, or no analysis so far): no crop, no grid, no map."""
        self._preview = None if pixels is None else imaging.rgb_to_qimage(pixels)
        self._scaled_picture = None
        self.update()

    def set_map(
        self, values: np.ndarray | None, lut: np.ndarray | None = None,
        vmin: float = 0.0, vmax: float = 1.0,
    ) -> None:  # fmt: skip
        """A `[g, g]` map coloured by `lut` between vmin and vmax, or None for no overlay."""
        self._values = None if values is None else np.asarray(values, dtype=np.float32)
        self._lut, self._range = lut, (vmin, vmax)
        self._blocky_map = None if values is None else imaging.rgb_to_qimage(
            imaging.colorize(self._values, lut, vmin, vmax)
        )
        self._smooth_map = None
        self.update()

    def set_show_model_input(self, shown: bool) -> None:
        """True: the model's input; False: the photo, where there is one."""
        self._show_model_input = shown
        self._scaled_picture = None
        self.update()

    def set_smooth_map(self, smooth: bool) -> None:
        """True: interpolate the map bilinearly; False: one flat block per patch."""
        self._smooth = smooth
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

    def showing_preview(self) -> bool:
        """Whether the photo is shown alone, waiting for its analysis."""
        return self._input is None and self._preview is not None

    def showing_original(self) -> bool:
        """Whether the photo is painted (rather than the model input)."""
        return self._original is not None and not self._show_model_input

    # --- where things are ---------------------------------------------------------------------

    def geometry_shown(self) -> CropGeometry:
        """The picture painted and the crop in it, in the picture's pixels."""
        if self.showing_original():
            assert self._original is not None
            return self._original.geometry
        return self._input_geometry

    def widget_point(self, x: float, y: float) -> QPointF:
        """Where point (x, y) of the picture painted lies on the canvas."""
        (left, top, _, _), scale, origin = self._frame()
        return QPointF(origin.x() + (x - left) * scale, origin.y() + (y - top) * scale)

    def picture_point(self, point: QPointF) -> tuple[float, float]:
        """The point of the picture painted under canvas point `point`."""
        (left, top, _, _), scale, origin = self._frame()
        return (left + (point.x() - origin.x()) / scale, top + (point.y() - origin.y()) / scale)

    def image_rect(self) -> QRectF:
        """Where the picture is painted: as large as fits (with the crop), centred."""
        geometry = self.geometry_shown()
        return self._rect((0.0, 0.0, float(geometry.width), float(geometry.height)))

    def crop_rect(self) -> QRectF:
        """Where the model's input lies on the canvas."""
        return self._rect(self.geometry_shown().crop)

    def patch_rect(self, patch: int) -> QRectF:
        row, column = divmod(patch, self._grid_size)
        return self._rect(self.geometry_shown().patch_box(row, column))

    def patch_at(self, point: QPointF) -> int | None:
        """The patch under `point`; None off the picture and outside the crop."""
        if self._input is None or self._grid_size == 0:
            return None
        return self.geometry_shown().patch_at(*self.picture_point(point))

    def _frame(self) -> tuple[tuple[float, float, float, float], float, QPointF]:
        """The picture's box that must show, its scale to the canvas and its top-left there."""
        bounds = self.geometry_shown().bounds
        left, top, right, bottom = bounds
        scale = min(self.width() / (right - left), self.height() / (bottom - top))
        origin = QPointF((self.width() - (right - left) * scale) / 2,
                         (self.height() - (bottom - top) * scale) / 2)  # fmt: skip
        return bounds, scale, origin

    def _rect(self, box: tuple[float, float, float, float]) -> QRectF:
        top_left = self.widget_point(box[0], box[1])
        return QRectF(top_left, self.widget_point(box[2], box[3]))

    # --- painting -----------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self._input is None and self._preview is not None:
            self._paint_preview(painter)
            return
        if self._input is None:
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(
                self.rect(),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self._placeholder,
            )
            return
        area, crop = self.image_rect(), self.crop_rect()
        if self.showing_original():
            # Where the crop reaches past the photo, the model saw torchvision's black padding.
            painter.fillRect(crop, Qt.GlobalColor.black)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(area, self._picture_for(area))
        if self.showing_original():
            outside = QPainterPath()
            outside.addRect(area)
            inside = QPainterPath()
            inside.addRect(crop)
            painter.fillPath(outside.subtracted(inside), DIM_COLOUR)
        if self._values is not None and self._opacity > 0:
            painter.setOpacity(self._opacity)
            if self._smooth:
                painter.drawImage(crop, self._smooth_map_for(crop))
            else:
                # Nearest-neighbour scaling keeps every patch one flat block of colour.
                painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
                painter.drawImage(crop, self._blocky_map)
            painter.setOpacity(1.0)
        if self._grid_visible and self._grid_size > 1:
            painter.setPen(QPen(GRID_COLOUR, 1))
            for index in range(1, self._grid_size):
                x = crop.left() + index * crop.width() / self._grid_size
                y = crop.top() + index * crop.height() / self._grid_size
                painter.drawLine(QPointF(x, crop.top()), QPointF(x, crop.bottom()))
                painter.drawLine(QPointF(crop.left(), y), QPointF(crop.right(), y))
        if self.showing_original():
            painter.setPen(QPen(CROP_SHADOW, 3))
            painter.drawRect(crop)
            painter.setPen(QPen(CROP_COLOUR, 1.5))
            painter.drawRect(crop)
        if self._selected is not None:
            painter.setPen(QPen(SELECTION_COLOUR, 2))
            painter.drawRect(self.patch_rect(self._selected))

    def _paint_preview(self, painter: QPainter) -> None:
        assert self._preview is not None
        width, height = self._preview.width(), self._preview.height()
        scale = min(self.width() / width, self.height() / height)
        area = QRectF((self.width() - width * scale) / 2, (self.height() - height * scale) / 2,
                      width * scale, height * scale)  # fmt: skip
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        painter.drawImage(area, self._scaled(self._preview, area))

    def _device_size(self, rect: QRectF) -> tuple[int, int]:
        ratio = self.devicePixelRatioF()
        return max(1, round(rect.width() * ratio)), max(1, round(rect.height() * ratio))

    def _picture_for(self, area: QRectF) -> QImage:
        """The picture shown, scaled once per size to the screen's device pixels."""
        picture = self._original_picture if self.showing_original() else self._input
        assert picture is not None
        return self._scaled(picture, area)

    def _scaled(self, picture: QImage, area: QRectF) -> QImage:
        size = self._device_size(area)
        key = (id(picture), size)
        if self._scaled_picture is None or self._scaled_picture[0] != key:
            scaled = picture.scaled(
                QSize(*size),
                Qt.AspectRatioMode.IgnoreAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            self._scaled_picture = (key, scaled)
        return self._scaled_picture[1]

    def _smooth_map_for(self, crop: QRectF) -> QImage:
        width, height = self._device_size(crop)
        size = (min(width, MAX_SMOOTH_SIDE), min(height, MAX_SMOOTH_SIDE))
        if self._smooth_map is None or self._smooth_map[0] != size:
            values = imaging.upsample_bilinear(self._values, size[1], size[0])
            colours = imaging.colorize(values, self._lut, *self._range)
            self._smooth_map = (size, imaging.rgb_to_qimage(colours))
        return self._smooth_map[1]

    # --- input --------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        patch = self.patch_at(event.position())
        if event.button() == Qt.MouseButton.LeftButton and patch is not None:
            self.set_selected_patch(patch)
            self.patchClicked.emit(patch)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        patch = self.patch_at(event.position())
        if patch is not None:
            tip = f"Patch {patch_label(patch, self._grid_size)}: click to see where it attends"
        elif self.showing_original() and self.image_rect().contains(event.position()):
            tip = "Outside the centre crop: the model never saw this part of the photo"
        else:
            tip = ""
        self.setToolTip(tip)
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
