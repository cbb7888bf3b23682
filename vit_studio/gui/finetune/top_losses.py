"""The validation images the kept model gets most wrong, largest loss first (fastai's top
losses, Teachable Machine's "what it got wrong"): each with its true and predicted class."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from vit_studio.engine.training.evaluation import top_losses
from vit_studio.gui.finetune.cell_images import thumbnail_item, thumbnail_list
from vit_studio.gui.state.finetune_results import ValidationSet

SHOWN = 24  # images listed: two or three rows of the Result page


class TopLosses(QWidget):
    """Thumbnails of the images with the largest loss; caption: true → predicted, probability."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._title = QLabel()
        self._title.setWordWrap(True)
        self.list = thumbnail_list(rows=2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._title)
        layout.addWidget(self.list, 1)
        self.clear()

    def title(self) -> str:
        return self._title.text()

    def clear(self) -> None:
        self.list.clear()
        self._title.setText("The images the kept model gets most wrong appear here.")

    def show_losses(self, validation: ValidationSet, probabilities: np.ndarray, epoch: int) -> None:
        names = validation.class_names
        losses = top_losses(probabilities, validation.labels, SHOWN)
        wrong = sum(loss.wrong for loss in losses)
        model = "the starting model" if epoch == 0 else f"the model of epoch {epoch}"
        self._title.setText(
            f"Largest losses of {model} on the validation images, largest first ({wrong} of "
            f"these {len(losses)} wrong). Caption: true class → predicted class, its "
            "probability."
        )
        self.list.clear()
        for loss in losses:
            caption = f"{names[loss.true_class]} → {names[loss.predicted]} {loss.probability:.0%}"
            item = thumbnail_item(validation, probabilities, loss.index, caption)
            if not loss.wrong:
                item.setForeground(Qt.GlobalColor.darkGreen)
            self.list.addItem(item)

    def shown(self) -> list[int]:
        """Indices (into the validation set) of the images listed, in order."""
        return [
            self.list.item(row).data(Qt.ItemDataRole.UserRole) for row in range(self.list.count())
        ]
