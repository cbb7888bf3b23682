"""The validation images behind one confusion-matrix cell, with the model's probabilities."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QLabel, QListView, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from vit_studio.engine.text import counted
from vit_studio.gui import imaging
from vit_studio.gui.state.finetune_results import ValidationSet

ICON_SIZE = 72
CLASSES_IN_TOOLTIP = 3  # the best classes each image's tooltip lists


def thumbnail_item(
    validation: ValidationSet, probabilities: np.ndarray, index: int, caption: str
) -> QListWidgetItem:
    """A validation image as a list item: its thumbnail, `caption`, and a tooltip with the file,
    its true class and the model's best classes; `index` in its data."""
    names, probs = validation.class_names, probabilities[index]
    item = QListWidgetItem(caption)
    pixmap = imaging.rgb_to_pixmap(validation.thumbnails[index]).scaled(
        ICON_SIZE,
        ICON_SIZE,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.FastTransformation,
    )
    item.setIcon(QIcon(pixmap))
    top = np.argsort(-probs, kind="stable")[:CLASSES_IN_TOOLTIP]
    lines = "<br>".join(f"{names[k]}: {probs[k]:.1%}" for k in top)
    true_class = names[validation.labels[index]]
    item.setToolTip(f"<b>{validation.paths[index].name}</b><br>true class: {true_class}<br>{lines}")
    item.setData(Qt.ItemDataRole.UserRole, index)
    return item


def thumbnail_list(rows: int = 1) -> QListWidget:
    """A wrapping list of captioned thumbnails, at least `rows` rows high."""
    view = QListWidget()
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
    view.setResizeMode(QListView.ResizeMode.Adjust)
    view.setMovement(QListView.Movement.Static)
    view.setWrapping(True)
    view.setUniformItemSizes(True)
    view.setGridSize(QSize(ICON_SIZE + 40, ICON_SIZE + 44))
    view.setWordWrap(True)
    view.setMinimumHeight(rows * (ICON_SIZE + 44) + 12)
    return view


class CellImages(QWidget):
    """Thumbnails of the images of one (true, predicted) cell, most confident first.

    Each caption is the probability of the predicted class; the tooltip adds the file and the
    top classes.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = QLabel()
        self._title.setWordWrap(True)
        self.list = thumbnail_list()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._title)
        layout.addWidget(self.list, 1)
        self.clear()

    def title(self) -> str:
        return self._title.text()

    def clear(self) -> None:
        self.list.clear()
        self._title.setText("Click a cell of the confusion matrix to see its images.")

    def show_cell(
        self,
        validation: ValidationSet,
        probabilities: np.ndarray,
        true_class: int,
        predicted: int,
        epoch: int,
    ) -> None:
        names = validation.class_names
        members = validation.members(true_class, probabilities.argmax(1), predicted)
        members = members[np.argsort(-probabilities[members, predicted], kind="stable")]
        verdict = "correctly" if true_class == predicted else f"as '{names[predicted]}'"
        self._title.setText(
            f"Epoch {epoch}: {counted(len(members), 'validation image')} of '{names[true_class]}' "
            f"predicted {verdict}. Caption: probability of the predicted class."
        )
        self.list.clear()
        for index in members:
            caption = f"{probabilities[index, predicted]:.0%}"
            self.list.addItem(thumbnail_item(validation, probabilities, int(index), caption))

    def shown(self) -> list[int]:
        """Indices (into the validation set) of the images listed, in order."""
        return [
            self.list.item(row).data(Qt.ItemDataRole.UserRole) for row in range(self.list.count())
        ]
