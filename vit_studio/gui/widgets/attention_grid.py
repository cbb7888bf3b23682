"""Layers × heads grid of class-token attention thumbnails; click one to select that head."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPen,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from vit_studio.engine.analysis import Analysis
from vit_studio.gui import imaging
from vit_studio.gui.state.overlay import MEAN_HEAD

MIN_THUMBNAIL = 32
MAX_THUMBNAIL = 96
GAP = 4  # wide enough for the 2 px selection outline to sit between thumbnails
MEAN_COLUMN_GAP = 12  # sets the derived mean column apart from the real heads
SELECTION_COLOUR = QColor(0, 200, 255)
LEGEND_TEXT = (
    "Class-token attention to each patch. Rows: layers, columns: heads, last column: mean over "
    "heads. Each thumbnail is scaled to its own min–max, so compare shapes, not brightness. "
    "Ctrl-click a head to knock it out (see Predictions)."
)


def per_thumbnail_colours(maps: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """`[R, C, g, g]` maps -> `[R, C, g, g, 3]` colours, each map stretched to its own range.

    Per-thumbnail scaling is what makes heads with very different attention magnitudes readable
    side by side; the tooltip gives the real range.
    """
    low = maps.min(axis=(-2, -1), keepdims=True)
    span = maps.max(axis=(-2, -1), keepdims=True) - low
    scaled = np.divide(maps - low, span, out=np.zeros_like(maps), where=span > 0)
    return lut[(scaled * 255.0 + 0.5).astype(np.uint8)]


def _bold(font: QFont) -> QFont:
    bold = QFont(font)
    bold.setBold(True)
    return bold


@dataclass(frozen=True)
class _GridData:
    atlas: QImage  # all thumbnails side by side at patch resolution: [L*g, (H+1)*g]
    maps: np.ndarray  # [L, H+1, g, g], the mean over heads in the last column
    distances: np.ndarray  # [L, H+1] pixels, the mean over heads in the last column

    @property
    def num_layers(self) -> int:
        return self.maps.shape[0]

    @property
    def num_columns(self) -> int:
        return self.maps.shape[1]

    @property
    def grid_size(self) -> int:
        return self.maps.shape[2]


class ThumbnailCanvas(QWidget):
    """The painted grid. Cells are addressed as (layer, column); the last column is the mean."""

    cellClicked = Signal(int, int)
    cellAblated = Signal(int, int)  # Ctrl-click: knock this head out

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._data: _GridData | None = None
        self._cell = MIN_THUMBNAIL
        self._selected: tuple[int, int] | None = None
        self._hovered: tuple[int, int] | None = None
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAutoFillBackground(True)

    def set_data(self, data: _GridData | None) -> None:
        """Show new thumbnails (None: nothing); the selection is dropped."""
        self._data = data
        self._hovered = None
        self._selected = None
        self._resize_to_content()
        self.update()

    def shape(self) -> tuple[int, int]:
        """(layers, columns) shown, (0, 0) when empty."""
        return (self._data.num_layers, self._data.num_columns) if self._data else (0, 0)

    def set_selected(self, cell: tuple[int, int] | None) -> None:
        self._selected = cell
        self.update()

    def selected(self) -> tuple[int, int] | None:
        return self._selected

    def fit_width(self, width: int) -> None:
        """Choose the thumbnail size that fills `width`, within readable bounds."""
        columns = self._data.num_columns if self._data else 1
        # Everything `_resize_to_content` adds around the thumbnails, so no scroll bar is needed.
        free = width - self.left_margin() - MEAN_COLUMN_GAP - GAP * columns - 1
        cell = int(np.clip(free // columns, MIN_THUMBNAIL, MAX_THUMBNAIL))
        if cell != self._cell:
            self._cell = cell
            self._resize_to_content()
            self.update()

    def left_margin(self) -> int:
        """Width of the layer labels left of the thumbnails."""
        return self.fontMetrics().horizontalAdvance("L00") + 10

    def cell_rect(self, layer: int, column: int) -> QRect:
        """Where thumbnail (layer, column) is painted, in this widget's coordinates."""
        assert self._data is not None
        x = self.left_margin() + column * (self._cell + GAP)
        if column == self._data.num_columns - 1:
            x += MEAN_COLUMN_GAP
        y = GAP + layer * (self._cell + GAP)
        return QRect(x, y, self._cell, self._cell)

    def cell_at(self, point: QPoint) -> tuple[int, int] | None:
        if self._data is None:
            return None
        pitch = self._cell + GAP
        layer, inside_y = divmod(point.y() - GAP, pitch)
        x = point.x() - self.left_margin()
        column, inside_x = divmod(x, pitch)
        if column >= self._data.num_columns - 1:
            column, inside_x = divmod(x - MEAN_COLUMN_GAP, pitch)
            column = self._data.num_columns - 1 if column == self._data.num_columns - 1 else -1
        if not (0 <= layer < self._data.num_layers and 0 <= column < self._data.num_columns):
            return None
        if inside_x >= self._cell or inside_y >= self._cell:
            return None
        return int(layer), int(column)

    def _resize_to_content(self) -> None:
        if self._data is None:
            self.setFixedSize(QSize(0, 0))
            return
        last = self.cell_rect(self._data.num_layers - 1, self._data.num_columns - 1)
        self.setFixedSize(last.right() + GAP + 1, last.bottom() + GAP + 1)

    def paintEvent(self, event: QPaintEvent) -> None:
        if self._data is None:
            return
        data = self._data
        g = data.grid_size
        painter = QPainter(self)
        # No SmoothPixmapTransform: nearest-neighbour scaling keeps each patch a crisp block.
        for layer in range(data.num_layers):
            for column in range(data.num_columns):
                target = self.cell_rect(layer, column)
                if target.intersects(event.rect()):
                    source = QRect(column * g, layer * g, g, g)
                    painter.drawImage(target, data.atlas, source)
        self._paint_labels(painter)
        if self._hovered is not None and self._hovered != self._selected:
            painter.setPen(QPen(self.palette().text().color(), 1))
            painter.drawRect(self.cell_rect(*self._hovered).adjusted(-1, -1, 0, 0))
        if self._selected is not None:
            painter.setPen(QPen(SELECTION_COLOUR, 2))
            painter.drawRect(self.cell_rect(*self._selected).adjusted(-2, -2, 1, 1))
        painter.end()

    def _paint_labels(self, painter: QPainter) -> None:
        assert self._data is not None
        selected_layer = self._selected[0] if self._selected else -1
        painter.setPen(self.palette().text().color())
        for layer in range(self._data.num_layers):
            rect = self.cell_rect(layer, 0)
            painter.setFont(_bold(self.font()) if layer == selected_layer else self.font())
            painter.drawText(
                QRect(0, rect.y(), self.left_margin() - 6, rect.height()),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                f"L{layer + 1}",
            )

    def _tooltip(self, layer: int, column: int) -> str:
        assert self._data is not None
        values = self._data.maps[layer, column]
        distance = self._data.distances[layer, column]
        if column == self._data.num_columns - 1:
            title = f"Layer {layer + 1}, mean over heads"
            distance_text = f"Mean attention distance (average of heads): {distance:.1f} px"
        else:
            title = f"Layer {layer + 1}, head {column + 1}"
            distance_text = f"Mean attention distance: {distance:.1f} px"
        return (
            f"<b>{title}</b><br>{distance_text}<br>"
            f"Class-token attention from {values.min():.4f} to {values.max():.4f}<br>"
            "<i>colours scaled to this thumbnail's own range</i>"
        )

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            cell = self.cell_at(event.pos())
            if cell is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(
                    event.globalPos(), self._tooltip(*cell), self, self.cell_rect(*cell)
                )
            return True
        return super().event(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        cell = self.cell_at(event.position().toPoint())
        if cell != self._hovered:
            self._hovered = cell
            self.update()

    def leaveEvent(self, event: QEvent) -> None:
        self._hovered = None
        self.update()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        cell = self.cell_at(event.position().toPoint())
        if event.button() != Qt.MouseButton.LeftButton or cell is None:
            return
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.cellAblated.emit(*cell)
        else:
            self._choose(cell)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        steps = {
            Qt.Key.Key_Left: (0, -1),
            Qt.Key.Key_Right: (0, 1),
            Qt.Key.Key_Up: (-1, 0),
            Qt.Key.Key_Down: (1, 0),
        }
        step = steps.get(Qt.Key(event.key()))
        if self._data is None or step is None:
            super().keyPressEvent(event)
            return
        layer, column = self._selected or (0, 0)
        self._choose(
            (
                int(np.clip(layer + step[0], 0, self._data.num_layers - 1)),
                int(np.clip(column + step[1], 0, self._data.num_columns - 1)),
            )
        )

    def _choose(self, cell: tuple[int, int]) -> None:
        self.set_selected(cell)
        self.cellClicked.emit(*cell)


class ColumnHeader(QWidget):
    """Head labels above the scroll area, so they stay visible while scrolling down layers."""

    def __init__(self, canvas: ThumbnailCanvas, scroll: QScrollArea) -> None:
        super().__init__()
        self._canvas = canvas
        self.setFixedHeight(self.fontMetrics().height() + 6)
        scroll.horizontalScrollBar().valueChanged.connect(self.update)

    def paintEvent(self, event: QPaintEvent) -> None:
        columns = self._canvas.shape()[1]
        selected_column = self._canvas.selected()[1] if self._canvas.selected() else -1
        painter = QPainter(self)
        painter.setPen(self.palette().text().color())
        for column in range(columns):
            rect = self._canvas.cell_rect(0, column)
            # Map through global coordinates so scrolling and frames are accounted for.
            x = self.mapFromGlobal(self._canvas.mapToGlobal(rect.topLeft())).x()
            painter.setFont(_bold(self.font()) if column == selected_column else self.font())
            painter.drawText(
                QRect(x - GAP, 0, rect.width() + 2 * GAP, self.height()),
                Qt.AlignmentFlag.AlignCenter,
                "mean" if column == columns - 1 else f"H{column + 1}",
            )
        painter.end()


class AttentionGrid(QWidget):
    """Class-token attention of every layer and head of one analysis, as a clickable grid.

    `headSelected(layer, head)` is emitted when the user picks a thumbnail (mouse or arrow
    keys); layers and heads are 0-based, `head == -1` is the mean-over-heads column.
    `select()` changes the highlight without emitting.
    """

    headSelected = Signal(int, int)
    headAblated = Signal(int, int)  # Ctrl-click: (layer, head) to knock out

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._num_heads = 0
        self._canvas = ThumbnailCanvas()
        self._canvas.cellClicked.connect(self._on_cell_clicked)
        self._canvas.cellAblated.connect(self._on_cell_ablated)
        self._scroll = QScrollArea()
        self._scroll.setWidget(self._canvas)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.installEventFilter(self)
        self._header = ColumnHeader(self._canvas, self._scroll)
        self._empty = QLabel("Analyse an image to see its attention heads.")
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)

        legend = QLabel(LEGEND_TEXT)
        legend.setWordWrap(True)
        legend.setToolTip(
            "Brightness is relative within each thumbnail (min–max per thumbnail). "
            "Hover a thumbnail for its layer, head, mean attention distance and real range."
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self._colour_key(legend))
        layout.addWidget(self._empty, 1)
        layout.addWidget(self._header)
        layout.addWidget(self._scroll, 1)
        self._header.hide()
        self._scroll.hide()

    def _colour_key(self, legend: QLabel) -> QHBoxLayout:
        self._key_bar = QLabel()  # its colours are painted when first shown (`showEvent`)
        row = QHBoxLayout()
        row.setContentsMargins(6, 4, 6, 4)
        row.addWidget(legend, 1)
        row.addWidget(QLabel("low"))
        row.addWidget(self._key_bar)
        row.addWidget(QLabel("high"))
        return row

    def showEvent(self, event: QShowEvent) -> None:
        # The colour map (matplotlib's) is loaded when the grid is first seen, not at start-up.
        if self._key_bar.pixmap().isNull():
            strip = imaging.colorbar_rgb(imaging.colormap_lut(), 80, 10).transpose(1, 0, 2)
            self._key_bar.setPixmap(imaging.rgb_to_pixmap(np.ascontiguousarray(strip[:, ::-1])))
        super().showEvent(event)

    @property
    def canvas(self) -> ThumbnailCanvas:
        """The painted thumbnails, for hit-testing (`cell_rect`) and tests."""
        return self._canvas

    def show_analysis(self, analysis: Analysis) -> None:
        """Draw every layer and head of `analysis`; a selection still inside it is kept."""
        per_head = analysis.cls_attention.astype(np.float32)
        maps = np.concatenate([per_head, per_head.mean(axis=1, keepdims=True)], axis=1)
        distances = analysis.mean_attention_distance
        distances = np.concatenate([distances, distances.mean(axis=1, keepdims=True)], axis=1)
        layers, columns, g, _ = maps.shape
        colours = per_thumbnail_colours(maps, imaging.colormap_lut())
        atlas = imaging.rgb_to_qimage(
            colours.transpose(0, 2, 1, 3, 4).reshape(layers * g, columns * g, 3)
        )
        previous = self.selected()
        self._num_heads = analysis.num_heads
        self._canvas.set_data(_GridData(atlas, maps, distances))
        self._empty.hide()
        self._header.show()
        self._scroll.show()
        self._fit()
        self._header.update()
        if previous is not None and self._column_of(*previous) is not None:
            self.select(*previous)

    def clear(self) -> None:
        self._num_heads = 0
        self._canvas.set_data(None)
        self._header.hide()
        self._scroll.hide()
        self._empty.show()

    def select(self, layer: int, head: int) -> None:
        """Highlight (layer, head), 0-based, `head == -1` for the mean; does not emit."""
        column = self._column_of(layer, head)
        if column is None:
            raise ValueError(f"layer {layer}, head {head} is not in the shown analysis")
        self._canvas.set_selected((layer, column))
        self._header.update()
        self._scroll_to(layer, column)

    def selected(self) -> tuple[int, int] | None:
        """The highlighted (layer, head), `head == -1` for the mean, or None."""
        cell = self._canvas.selected()
        if cell is None:
            return None
        return cell[0], MEAN_HEAD if cell[1] == self._num_heads else cell[1]

    def _column_of(self, layer: int, head: int) -> int | None:
        layers, columns = self._canvas.shape()
        if not (0 <= layer < layers and MEAN_HEAD <= head < columns - 1):
            return None
        return columns - 1 if head == MEAN_HEAD else head

    def _scroll_to(self, layer: int, column: int) -> None:
        rect = self._canvas.cell_rect(layer, column)
        centre = rect.center()
        self._scroll.ensureVisible(centre.x(), centre.y(), rect.width(), rect.height())

    def _on_cell_clicked(self, layer: int, column: int) -> None:
        self._header.update()
        self._scroll_to(layer, column)
        self.headSelected.emit(layer, MEAN_HEAD if column == self._num_heads else column)

    def _on_cell_ablated(self, layer: int, column: int) -> None:
        if column < self._num_heads:  # the mean column is no head of its own
            self.headAblated.emit(layer, column)

    def _fit(self) -> None:
        # Reserve the vertical scroll bar's width whether or not it shows, so its appearing
        # cannot shrink the thumbnails and make it disappear again (a resize loop).
        reserve = self._scroll.verticalScrollBar().sizeHint().width()
        self._canvas.fit_width(self._scroll.width() - reserve - 2 * self._scroll.frameWidth())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._scroll and event.type() == QEvent.Type.Resize:
            self._fit()
        return super().eventFilter(watched, event)
