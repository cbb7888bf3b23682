"""The Trust tab's folder table: every method's mean AUCs over a folder with their 95 %
bootstrap intervals, and whether each beats random by more than its interval (paired over the
same images; `engine.explain.intervals`)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidgetItem, QWidget

from vit_studio.engine.explain.evaluate import FaithfulnessReport
from vit_studio.engine.explain.faithfulness import AUC_NAMES
from vit_studio.gui.widgets.auc_tables import AucTableBase

VERDICT_MARKS = {"better": "✓", "tie": "≈", "worse": "✗"}
VERDICT_TIPS = {
    "better": "better than random by more than the interval of the difference",
    "tie": "not told apart from random: the interval of the difference holds 0",
    "worse": "worse than random by more than the interval of the difference",
}


def cell_text(mean: float, interval: tuple[float, float], auc: str, verdict: str | None) -> str:
    """'40.4 ✓' over '[39.5, 41.3]': the mean, the verdict against random, the interval."""
    digits = 1 if auc in ("positive_auc", "negative_auc") else 3
    low, high = interval
    mark = f" {VERDICT_MARKS[verdict]}" if verdict else ""
    return f"{mean:.{digits}f}{mark}\n[{low:.{digits}f}, {high:.{digits}f}]"


class FolderTable(AucTableBase):
    """One row per method, one column per AUC of `aucs` (two fit the narrow side column, as in
    the image's tables)."""

    def __init__(self, aucs: tuple[str, ...] = AUC_NAMES, parent: QWidget | None = None) -> None:
        super().__init__(aucs, parent)
        self.report: FaithfulnessReport | None = None

    def show_report(self, report: FaithfulnessReport) -> None:
        self.report = report
        names = list(report.methods)
        self.setRowCount(len(names))
        for row, name in enumerate(names):
            self.setItem(row, 0, self.method_item(name))
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
