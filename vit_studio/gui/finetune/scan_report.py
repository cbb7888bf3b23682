"""What a folder holds for training: images per class, the files left out, what blocks a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vit_studio.engine.data import FolderScan
from vit_studio.engine.text import counted
from vit_studio.gui.widgets.banner import ERROR_STYLE
from vit_studio.gui.widgets.plots import PlotCanvas, legend_below, placeholder

TRAIN_COLOUR = "#4a7fc1"
VAL_COLOUR = "#f0a030"
# A class with too few images to train on: the same two shades of one warning hue.
SHORT_TRAIN_COLOUR = "#c0392b"
SHORT_VAL_COLOUR = "#e6a29b"
SHORT_NOTE = "too few images"
EXPANDED_SKIPPED = 10  # up to this many skipped files are listed open; more start folded


class ClassCountChart(QWidget):
    """Training and validation images per class as stacked horizontal bars."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._names: list[str] = []
        self.figure = Figure(figsize=(5.0, 3.0), layout="constrained")
        self.canvas = PlotCanvas(self.figure)
        self.canvas.setMinimumSize(240, 160)
        self.axes = self.figure.add_subplot()
        self.canvas.setToolTip(
            "How many images each class has for training and for validation. A class with far "
            "fewer images than the others is learned less well."
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self.clear()

    def show_counts(
        self, counts: dict[str, tuple[int, int]], short: tuple[str, ...] = ()
    ) -> None:
        """Bars per class; the `short` classes (too few images to train on) in a warning colour,
        with a note beside the bar, since a class with no images at all has no bar to colour."""
        axes = self.axes
        axes.clear()
        self._names = list(counts)
        if not counts:
            self._show_empty("No class subfolders found")
            return
        names = self._names
        train = np.array([t for t, _ in counts.values()])
        val = np.array([v for _, v in counts.values()])
        rows = np.arange(len(names))
        marked = np.array([name in short for name in names])
        axes.barh(rows, train, color=np.where(marked, SHORT_TRAIN_COLOUR, TRAIN_COLOUR))
        axes.barh(rows, val, left=train, color=np.where(marked, SHORT_VAL_COLOUR, VAL_COLOUR))
        axes.set_yticks(rows, names, fontsize="small" if len(names) > 12 else None)
        handles = [Patch(color=TRAIN_COLOUR, label="training"),
                   Patch(color=VAL_COLOUR, label="validation")]  # fmt: skip
        if marked.any():
            widest = max(int((train + val).max()), 1)
            for row in np.flatnonzero(marked):
                axes.text(train[row] + val[row] + widest * 0.02, row, SHORT_NOTE,
                          va="center", color=SHORT_TRAIN_COLOUR, fontsize="small")  # fmt: skip
                axes.get_yticklabels()[row].set_color(SHORT_TRAIN_COLOUR)
            axes.set_xlim(0, widest * 1.45)  # room for the note beside the longest bar
            handles.append(Patch(color=SHORT_TRAIN_COLOUR, label=SHORT_NOTE))
        axes.invert_yaxis()  # first class at the top, as in the folder listing
        axes.set_xlabel("Images")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # no half images in a small folder
        axes.set_title("Images per class")
        legend_below(self.figure, handles, columns=len(handles))
        axes.grid(True, axis="x", alpha=0.3)
        self.canvas.relayout()
        self.canvas.draw_idle()

    def clear(self) -> None:
        self.axes.clear()
        self._names = []
        self._show_empty("")

    def bar_count(self) -> int:
        """Bars drawn (two per class: training and validation)."""
        return len(self.axes.patches)

    def marked_classes(self) -> tuple[str, ...]:
        """The classes drawn in the warning colour (too few images)."""
        training = self.axes.patches[: len(self._names)]
        return tuple(
            name
            for name, bar in zip(self._names, training, strict=True)
            if to_hex(bar.get_facecolor()) == SHORT_TRAIN_COLOUR
        )

    def _show_empty(self, note: str) -> None:
        axes = self.axes
        legend_below(self.figure, [])
        axes.set_title("Images per class")
        axes.set_axis_off()
        if note:
            placeholder(axes, note)
        self.canvas.relayout()
        self.canvas.draw_idle()


class ScanReport(QWidget):
    """The scan report: a summary line, the blocking problem (if any), the class chart and the
    files left out (an expandable list, one child per file with its reason)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._summary = QLabel()
        self._summary.setWordWrap(True)
        self._summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._problem = QLabel()
        self._problem.setWordWrap(True)
        self._problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._problem_frame = QFrame()
        self._problem_frame.setStyleSheet(ERROR_STYLE)
        frame_layout = QVBoxLayout(self._problem_frame)
        frame_layout.setContentsMargins(8, 6, 8, 6)
        frame_layout.addWidget(self._problem)
        self.chart = ClassCountChart()
        self.chart.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.skipped = QTreeWidget()
        self.skipped.setHeaderLabels(["File", "Why it was left out"])
        self.skipped.setRootIsDecorated(True)
        self.skipped.setMaximumHeight(160)
        layout = QVBoxLayout(self)
        layout.addWidget(self._summary)
        layout.addWidget(self._problem_frame)
        layout.addWidget(self.chart, 1)
        layout.addWidget(self.skipped)
        self.clear()

    def summary(self) -> str:
        return self._summary.text()

    def problem(self) -> str:
        """The blocking problem shown ('' when there is none)."""
        return self._problem.text() if self._problem_frame.isVisibleTo(self) else ""

    def clear(self) -> None:
        self._summary.setText(
            "Choose a folder with one subfolder of images per class (Fine-tune ▸ Choose Folder, "
            "or drop it here). A train/ and val/ pair of such folders is understood too."
        )
        self._problem_frame.hide()
        self.chart.clear()
        self.skipped.clear()
        self.skipped.hide()

    def show_scanning(self, folder: Path, done: int, total: int) -> None:
        self._summary.setText(f"Checking every image in {folder}: {done} of {total}…")

    def show_scan(self, scan: FolderScan) -> None:
        where = "from the val/ folder" if scan.has_val_folder else "split off from each class"
        self._summary.setText(
            f"<b>{scan.root}</b>: {len(scan.class_names)} classes, {len(scan.train)} training "
            f"and {len(scan.val)} validation images (validation {where})."
        )
        self._problem_frame.hide()
        self.chart.show_counts(scan.class_counts())
        self._list_files(scan)

    def show_problem(
        self,
        folder: Path,
        message: str,
        found: FolderScan | None = None,
        short_classes: tuple[str, ...] = (),
    ) -> None:
        """A folder that cannot be trained on: the engine's explanation with the fix and, where
        the folder could be read, what it holds (`short_classes` marked in the chart)."""
        if found is None:
            self._summary.setText(f"<b>{folder}</b> cannot be used for training yet:")
        else:
            classes = len(found.class_names)
            images = len(found.train) + len(found.val)
            self._summary.setText(
                f"<b>{found.root}</b> cannot be used for training yet. It holds "
                f"{counted(classes, 'class', 'classes')} with {counted(images, 'image')}:"
            )
        self._problem.setText(message)
        self._problem_frame.show()
        if found is None:
            self.chart.clear()
            self.skipped.clear()
            self.skipped.hide()
        else:
            self.chart.show_counts(found.class_counts(), short_classes)
            self._list_files(found)

    def _list_files(self, scan: FolderScan) -> None:
        self.skipped.clear()
        if scan.skipped:
            files = QTreeWidgetItem([f"{counted(len(scan.skipped), 'unusable file')} skipped", ""])
            for skipped in scan.skipped:
                item = QTreeWidgetItem([_relative(skipped.path, scan.root), skipped.reason])
                item.setToolTip(0, str(skipped.path))
                files.addChild(item)
            self.skipped.addTopLevelItem(files)
            files.setExpanded(len(scan.skipped) <= EXPANDED_SKIPPED)
        if scan.ignored:
            self.skipped.addTopLevelItem(
                QTreeWidgetItem(
                    [
                        f"{counted(scan.ignored, 'other entry', 'other entries')} ignored",
                        "hidden, not an image type, or outside the class folders",
                    ]
                )
            )
        self.skipped.setVisible(self.skipped.topLevelItemCount() > 0)
        self.skipped.resizeColumnToContents(0)


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
