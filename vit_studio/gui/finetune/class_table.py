"""Accuracy per class beside the confusion matrix: each class's images, how many the model got
right, and the share, the weakest class marked."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

WEAKEST = QColor("#f3d0d0")  # the background of the weakest class's row
NUMBER = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
COLUMNS = ("Class", "Images", "Right", "Accuracy")


class ClassAccuracyTable(QTableWidget):
    """One row per class of a confusion matrix (rows: true class)."""

    def __init__(self) -> None:
        super().__init__(0, len(COLUMNS))
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setToolTip(
            "Validation images of each class, how many the model classified right, and the "
            "share: the diagonal of the confusion matrix over its rows. The weakest class is "
            "marked: it needs more, or more varied, images."
        )

    def clear(self) -> None:
        self.setRowCount(0)

    def show_confusion(self, confusion: np.ndarray, class_names: tuple[str, ...]) -> None:
        images = confusion.sum(1)
        right = np.diag(confusion)
        with np.errstate(invalid="ignore", divide="ignore"):
            accuracy = right / images
        scored = np.flatnonzero(images > 0)
        weakest = -1  # marked only where one class falls behind the others
        if len(scored) > 1 and np.ptp(accuracy[scored]) > 0:
            weakest = int(scored[np.argmin(accuracy[scored])])
        self.setRowCount(len(class_names))
        for row, name in enumerate(class_names):
            share = "no images" if images[row] == 0 else f"{accuracy[row]:.0%}"
            cells = (name, str(int(images[row])), str(int(right[row])), share)
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(NUMBER)
                if row == weakest:
                    item.setBackground(QBrush(WEAKEST))
                self.setItem(row, column, item)

    def rows(self) -> list[tuple[str, ...]]:
        """The table's text, row by row."""
        return [
            tuple(self.item(row, column).text() for column in range(self.columnCount()))
            for row in range(self.rowCount())
        ]
