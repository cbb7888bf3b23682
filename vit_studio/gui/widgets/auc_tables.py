"""What the Trust tab's tables of areas under the curves share: a row per method, a column per
AUC with its header and tooltip, as tall as their rows (the tab scrolls as a whole, not the
table in it), the numbers as wide as they are and the names taking the rest."""

from __future__ import annotations

from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from vit_studio.engine.explain.methods import METHOD_DESCRIPTIONS

BREAK = "\u200b"  # zero-width space: where a method's name may wrap, after an underscore
TITLES = {  # the header tooltips say more
    "positive_auc": "Positive ↓",
    "negative_auc": "Negative ↑",
    "deletion_auc": "Deletion ↓",
    "insertion_auc": "Insertion ↑",
}
HEADER_TIPS = {
    "positive_auc": "Positive perturbation: whether the top-1 class stays as the MOST relevant "
    "patches are removed (area × 100, 0 to 90); lower is better",
    "negative_auc": "Negative perturbation: whether the top-1 class stays as the LEAST relevant "
    "patches are removed (area × 100, 0 to 90); higher is better",
    "deletion_auc": "Deletion: the predicted class's probability as the most relevant patches "
    "are removed (area, 0 to 1); lower is better",
    "insertion_auc": "Insertion: the predicted class's probability when only the most relevant "
    "patches are kept (area, 0 to 1); higher is better",
}


class AucTableBase(QTableWidget):
    """A method column, then one column for each of `aucs` (names of `faithfulness.AUC_NAMES`)."""

    def __init__(self, aucs: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(0, len(aucs) + 1, parent)
        self.aucs = aucs
        self.setHorizontalHeaderLabels(["Method", *(TITLES[auc] for auc in aucs)])
        for column, auc in enumerate(aucs, start=1):
            self.horizontalHeaderItem(column).setToolTip(HEADER_TIPS[auc])
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setWordWrap(True)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        rows = self.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        rows.sectionResized.connect(lambda *_: self._fit())
        self._fit()

    def text(self, row: int, column: int) -> str:
        """What cell (row, column) says, as read (without the places a name may wrap)."""
        return self.item(row, column).text().replace(BREAK, "")

    def method_item(self, name: str) -> QTableWidgetItem:
        """A method's name, free to wrap after each underscore, its description as tooltip."""
        item = QTableWidgetItem(name.replace("_", "_" + BREAK))
        item.setToolTip(METHOD_DESCRIPTIONS[name])
        return item

    def _fit(self) -> None:
        header = self.horizontalHeader().sizeHint().height()
        self.setFixedHeight(header + self.verticalHeader().length() + 2 * self.frameWidth())
