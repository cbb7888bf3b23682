"""ViT paper Figure 7 (centre): position-embedding similarity of every patch, as one mosaic."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from vit_studio.engine.analysis import Analysis
from vit_studio.gui import imaging

COLORMAP = "viridis"  # the paper's choice; a different map from the attention views on purpose
SIMILARITY_RANGE = (-1.0, 1.0)  # fixed, as in the paper, so models can be compared by eye
TITLE = "Position embedding similarity"
ROW_LABEL = "Input patch row"
COLUMN_LABEL = "Input patch column"
BAR_LABEL = "Cosine similarity"
HIGHLIGHT_COLOUR = QColor(255, 60, 60)
BAR_WIDTH = 14
SPACING = 6


@dataclass(frozen=True)
class _Layout:
    """Where everything goes for the current widget size."""

    origin: QPoint  # top-left corner of the mosaic
    tile: int  # tile side in pixels
    gap: int  # pixels between tiles
    grid_size: int

    @property
    def side(self) -> int:
        return self.grid_size * self.tile + (self.grid_size - 1) * self.gap

    @property
    def pitch(self) -> int:
        return self.tile + self.gap

    def tile_rect(self, row: int, column: int) -> QRect:
        return QRect(
            self.origin.x() + column * self.pitch,
            self.origin.y() + row * self.pitch,
            self.tile,
            self.tile,
        )


class PosEmbedMosaic(QWidget):
    """A g × g mosaic: tile (i, j) is the cosine similarity of patch (i, j)'s position
    embedding to every patch's, all tiles on one shared colour scale.

    Click a tile -> `patchSelected(index)` with the row-major patch index (row * g + column), the
    same numbering as the engine; `highlight()` outlines a tile without emitting.
    """

    patchSelected = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._similarity: np.ndarray | None = None  # [g, g, g, g]
        self._colours: np.ndarray | None = None  # [g, g, g, g, 3]
        self._image: QImage | None = None
        self._image_key: tuple | None = None
        self._highlighted: int | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:
        return QSize(560, 520)

    def minimumSizeHint(self) -> QSize:
        return QSize(260, 240)

    def show_analysis(self, analysis: Analysis) -> None:
        self.show_similarity(analysis.pos_similarity)

    def show_similarity(self, similarity: np.ndarray) -> None:
        """Show a `[g, g, g, g]` similarity array (the fine-tune panel has one per epoch)."""
        self._similarity = similarity
        lut = imaging.colormap_lut(COLORMAP)
        self._colours = imaging.colorize(similarity, lut, *SIMILARITY_RANGE)
        self._image = None
        if self._highlighted is not None and self._highlighted >= similarity.shape[0] ** 2:
            self._highlighted = None
        self.update()

    def clear(self) -> None:
        self._similarity = None
        self._colours = None
        self._image = None
        self._highlighted = None
        self.update()

    def highlight(self, patch_index: int | None) -> None:
        """Outline the tile of `patch_index` (row-major), or none; does not emit."""
        self._highlighted = patch_index
        self.update()

    def similarity(self) -> np.ndarray | None:
        """The `[g, g, g, g]` similarities shown (None: nothing yet)."""
        return self._similarity

    def highlighted(self) -> int | None:
        return self._highlighted

    def tile_rect(self, patch_index: int) -> QRect:
        """Where the tile of `patch_index` is painted at the current size."""
        layout = self._layout()
        if layout is None:
            return QRect()
        return layout.tile_rect(*divmod(patch_index, layout.grid_size))

    def patch_at(self, point: QPoint) -> int | None:
        """The patch whose tile is under `point`, or None (gaps, margins, nothing shown)."""
        hit = self._hit(point)
        return None if hit is None else hit[0] * self._grid_size() + hit[1]

    def _grid_size(self) -> int:
        return 0 if self._similarity is None else self._similarity.shape[0]

    def _hit(self, point: QPoint) -> tuple[int, int, int, int] | None:
        """(tile row, tile column, inner row, inner column) under `point`."""
        layout = self._layout()
        if layout is None:
            return None
        g = layout.grid_size
        row, inside_y = divmod(point.y() - layout.origin.y(), layout.pitch)
        column, inside_x = divmod(point.x() - layout.origin.x(), layout.pitch)
        if not (0 <= row < g and 0 <= column < g) or max(inside_x, inside_y) >= layout.tile:
            return None
        return row, column, inside_y * g // layout.tile, inside_x * g // layout.tile

    def _margins(self) -> tuple[int, int, int, int]:
        """Room for labels around the mosaic: left, top, right, bottom."""
        metrics = self.fontMetrics()
        line = metrics.height()
        ticks = metrics.horizontalAdvance(str(self._grid_size())) + SPACING
        left = line + SPACING + ticks
        top = 2 * line
        right = 3 * SPACING + BAR_WIDTH + 5 + metrics.horizontalAdvance("-0.5") + line
        bottom = 2 * line + SPACING
        return left, top, right, bottom

    def _layout(self) -> _Layout | None:
        g = self._grid_size()
        if g == 0:
            return None
        left, top, right, bottom = self._margins()
        width = self.width() - left - right
        height = self.height() - top - bottom
        gap = 1 if g > 16 else 2
        tile = max(1, (min(width, height) - (g - 1) * gap) // g)
        side = g * tile + (g - 1) * gap
        origin = QPoint(left + max(0, width - side) // 2, top + max(0, height - side) // 2)
        return _Layout(origin, tile, gap, g)

    def _mosaic(self, layout: _Layout) -> QImage:
        """The whole mosaic at the current tile size, rebuilt only when that size changes."""
        background = self.palette().window().color().getRgb()[:3]
        key = (layout.tile, layout.gap, background)
        if self._image is None or self._image_key != key:
            rgb = imaging.tile_mosaic(self._colours, layout.tile, layout.gap, background)
            self._image = imaging.rgb_to_qimage(rgb)
            self._image_key = key
        return self._image

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setPen(self.palette().text().color())
        layout = self._layout()
        if layout is None:
            painter.drawText(
                self.rect(),
                Qt.AlignmentFlag.AlignCenter,
                f"{TITLE}\n\nAnalyse an image to see how the model encodes patch positions.",
            )
            painter.end()
            return
        painter.drawImage(layout.origin, self._mosaic(layout))
        self._paint_axes(painter, layout)
        self._paint_colour_bar(painter, layout)
        if self._highlighted is not None:
            painter.setPen(QPen(HIGHLIGHT_COLOUR, 2))
            painter.drawRect(self.tile_rect(self._highlighted).adjusted(-1, -1, 0, 0))
        painter.end()

    def _paint_axes(self, painter: QPainter, layout: _Layout) -> None:
        metrics = self.fontMetrics()
        line = metrics.height()
        x0, y0, side = layout.origin.x(), layout.origin.y(), layout.side
        title_font = QFont(self.font())
        title_font.setBold(True)
        painter.setFont(title_font)
        painter.drawText(
            QRect(x0 - side, y0 - 2 * line, 3 * side, 2 * line),
            Qt.AlignmentFlag.AlignCenter,
            TITLE,
        )
        painter.setFont(self.font())
        label_width = metrics.horizontalAdvance(str(layout.grid_size)) + SPACING
        every_x = math.ceil(label_width / layout.pitch)
        every_y = math.ceil(line / layout.pitch)
        for index in range(layout.grid_size):
            centre = layout.tile_rect(index, index).center()
            if index % every_x == 0:
                painter.drawText(
                    QRect(centre.x() - label_width, y0 + side + 2, 2 * label_width, line),
                    Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                    str(index + 1),
                )
            if index % every_y == 0:
                painter.drawText(
                    QRect(x0 - label_width - 2, centre.y() - line, label_width - 2, 2 * line),
                    Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                    str(index + 1),
                )
        painter.drawText(
            QRect(x0, y0 + side + line + SPACING, side, line),
            Qt.AlignmentFlag.AlignCenter,
            COLUMN_LABEL,
        )
        self._draw_vertical_text(painter, x0 - label_width - SPACING - line, y0, side, ROW_LABEL)

    def _paint_colour_bar(self, painter: QPainter, layout: _Layout) -> None:
        metrics = self.fontMetrics()
        x = layout.origin.x() + layout.side + 2 * SPACING
        y, height = layout.origin.y(), layout.side
        bar = imaging.colorbar_rgb(imaging.colormap_lut(COLORMAP), height, BAR_WIDTH)
        painter.drawImage(QPoint(x, y), imaging.rgb_to_qimage(bar))
        low, high = SIMILARITY_RANGE
        tick_width = metrics.horizontalAdvance("-0.5")
        line = metrics.height()
        for value in np.linspace(low, high, 5):
            tick_y = y + round((high - value) / (high - low) * (height - 1))
            painter.drawLine(x + BAR_WIDTH, tick_y, x + BAR_WIDTH + 3, tick_y)
            painter.drawText(
                QRect(x + BAR_WIDTH + 5, tick_y - line, tick_width, 2 * line),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                f"{value:g}",
            )
        self._draw_vertical_text(
            painter, x + BAR_WIDTH + 5 + tick_width + SPACING, y, height, BAR_LABEL
        )

    def _draw_vertical_text(self, painter: QPainter, x: int, y: int, length: int, text: str):
        """Text read bottom-to-top, centred along a vertical span starting at (x, y)."""
        painter.save()
        painter.translate(x, y + length)
        painter.rotate(-90)
        painter.drawText(
            QRect(0, 0, length, self.fontMetrics().height()), Qt.AlignmentFlag.AlignCenter, text
        )
        painter.restore()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            hit = self._hit(event.pos())
            if hit is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPos(), self._tooltip(*hit), self)
            return True
        return super().event(event)

    def _tooltip(self, row: int, column: int, inner_row: int, inner_column: int) -> str:
        assert self._similarity is not None
        value = self._similarity[row, column, inner_row, inner_column]
        return (
            f"<b>Tile of patch row {row + 1}, column {column + 1}</b><br>"
            f"Similarity to patch row {inner_row + 1}, column {inner_column + 1}: {value:.3f}<br>"
            "<i>click to select this patch</i>"
        )

    def mousePressEvent(self, event: QMouseEvent) -> None:
        patch = self.patch_at(event.position().toPoint())
        if event.button() == Qt.MouseButton.LeftButton and patch is not None:
            self.highlight(patch)
            self.patchSelected.emit(patch)
