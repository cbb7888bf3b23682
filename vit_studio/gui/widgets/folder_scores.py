"""The Trust tab's folder table: every method's mean AUCs over a folder with their 95 %
bootstrap intervals, and whether each beats random by more than its interval (paired over the
same images; `engine.explain.intervals`)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from vit_studio.engine.explain.evaluate import FaithfulnessReport
from vit_studio.engine.explain.faithfulness import AUC_NAMES
from vit_studio.engine.explain.methods import METHOD_DESCRIPTIONS

BREAK = "\u200b"  # where a method's name may wrap, after an underscore
VERDICT_MARKS = {"better": "✓", "tie": "≈", "worse": "✗"}
VERDICT_TIPS = {
    "better": "better than random by more than the interval of the difference",
    "tie": "not told apart from random: the interval of the difference holds 0",
    "worse": "worse than random by more than the interval of the difference",
}
_TITLES = {
    "positive_auc": "Positive ↓",
    "negative_auc": "Negative ↑",
    "deletion_auc": "Deletion ↓",
    "insertion_auc": "Insertion ↑",
}


def cell_text(mean: float, interval: tuple[float, float], auc: str, verdict: str | None) -> str:
    """'40.4 ✓' over '[39.5, 41.3]': the mean, the verdict against random, the interval."""
    digits = 1 if auc in ("positive_auc", "negative_auc") else 3
    low, high = interval
    mark = f" {VERDICT_MARKS[verdict]}" if verdict else ""
    return f"{mean:.{digits}f}{mark}\n[{low:.{digits}f}, {high:.{digits}f}]"


class FolderTable(QTableWidget):
    """One row per method, one column per AUC of `aucs` (two fit the narrow side column, as in
    the image's tables); as tall as its rows (the tab scrolls as a whole)."""

    def __init__(self, aucs: tuple[str, ...] = AUC_NAMES, parent: QWidget | None = None) -> None:
        super().__init__(0, len(aucs) + 1, parent)
        self.aucs = aucs
        self.setHorizontalHeaderLabels(["Method", *(_TITLES[auc] for auc in aucs)])
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setWordWrap(True)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        rows = self.verticalHeader()
        rows.hide()
        rows.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        rows.sectionResized.connect(lambda *_: self._fit())
        self.report: FaithfulnessReport | None = None
        self._fit()

    def show_report(self, report: FaithfulnessReport) -> None:
        self.report = report
        names = list(report.methods)
        self.setRowCount(len(names))
        for row, name in enumerate(names):
            label = QTableWidgetItem(name.replace("_", "_" + BREAK))
            label.setToolTip(METHOD_DESCRIPTIONS[name])
            self.setItem(row, 0, label)
            versus = report.versus_random.get(name, {})
            for column, auc in enumerate(self.aucs, start=1):
                comparison = versus.get(auc)
                verdict = comparison.verdict if comparison is not None else None
                text = cell_text(report.methods[name][auc], report.intervals[name][auc], auc,
                                 verdict)  # fmt: skip
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if comparison is not None:
                    low, high = comparison.interval
                    item.setToolTip(
                        f"{VERDICT_TIPS[verdict]}: difference {comparison.difference:+.3g} "
                        f"[{low:+.3g}, {high:+.3g}]"
                    )
                self.setItem(row, column, item)
        self._fit()

    def clear_report(self) -> None:
        self.report = None
        self.setRowCount(0)
        self._fit()

    def text(self, row: int, column: int) -> str:
        return self.item(row, column).text().replace(BREAK, "")

    def _fit(self) -> None:
        header = self.horizontalHeader().sizeHint().height()
        self.setFixedHeight(header + self.verticalHeader().length() + 2 * self.frameWidth())
