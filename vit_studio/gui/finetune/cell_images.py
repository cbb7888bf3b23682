"""The validation images behind one confusion-matrix cell, with the model's probabilities."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QLabel, QListView, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from vit_studio.engine.text import counted
from vit_studio.gui import imaging
from vit_studio.gui.finetune.snapshots import ValidationSet

ICON_SIZE = 72
CLASSES_IN_TOOLTIP = 3  # the best classes each image's tooltip lists


class CellImages(QWidget):
    """Thumbnails of the images of one (true, predicted) cell, most confident first.

    Each caption is the probability of the predicted class; the tooltip adds the file and the
    top classes.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = QLabel()
        self._title.setWordWrap(True)
        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(ICON_SIZE, ICON_SIZE))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setWrapping(True)
        self.list.setUniformItemSizes(True)
        self.list.setGridSize(QSize(ICON_SIZE + 24, ICON_SIZE + 28))
        self.list.setMinimumHeight(ICON_SIZE + 40)  # one full row of captioned thumbnails
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
            probs = probabilities[index]
            item = QListWidgetItem(f"{probs[predicted]:.0%}")
            pixmap = imaging.rgb_to_pixmap(validation.thumbnails[index]).scaled(
                ICON_SIZE,
                ICON_SIZE,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.FastTransformation,
            )
            item.setIcon(QIcon(pixmap))
            top = np.argsort(-probs, kind="stable")[:CLASSES_IN_TOOLTIP]
            lines = "<br>".join(f"{names[k]}: {probs[k]:.1%}" for k in top)
            item.setToolTip(
                f"<b>{validation.paths[index].name}</b><br>true class: {names[true_class]}<br>"
                f"{lines}"
            )
            item.setData(Qt.ItemDataRole.UserRole, int(index))
            self.list.addItem(item)

    def shown(self) -> list[int]:
        """Indices (into the validation set) of the images listed, in order."""
        return [
            self.list.item(row).data(Qt.ItemDataRole.UserRole) for row in range(self.list.count())
        ]
