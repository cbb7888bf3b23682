"""The row above the fine-tune panel's pages: the folder trained on, Choose Folder… and Rescan.
A long folder name is shortened in its middle to the row's width, whole in its tooltip."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """A one-line label that shortens its text in the middle when it is narrower than it."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = text
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def set_full_text(self, text: str) -> None:
        self._full = text
        self._elide()

    def minimumSizeHint(self) -> QSize:
        return QSize(self.fontMetrics().horizontalAdvance("…"), super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        metrics = self.fontMetrics()
        self.setText(metrics.elidedText(self._full, Qt.TextElideMode.ElideMiddle, self.width()))


class FolderRow(QWidget):
    """`folderChosen(path)` when the user picks a folder; `rescanClicked` for Rescan."""

    folderChosen = Signal(Path)
    rescanClicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.choose = QPushButton("Choose Folder…")
        self.choose.setToolTip(
            "A folder with one subfolder of images per class (or train/ and val/ folders of "
            "them). You can also drop a folder on this panel."
        )
        self.choose.clicked.connect(self._ask_folder)
        self._label = ElidedLabel("No folder chosen")
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.rescan = QPushButton("Rescan")
        self.rescan.setToolTip("Check the folder again, e.g. after adding or fixing images")
        self.rescan.clicked.connect(self.rescanClicked)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.choose)
        layout.addWidget(self._label, 1)
        layout.addWidget(self.rescan)

    def show_folder(self, text: str, tooltip: str = "") -> None:
        self._label.set_full_text(text)
        self._label.setToolTip(tooltip or text)

    def folder_text(self) -> str:
        """The folder shown, whole (the row may show it shortened)."""
        return self._label.full_text()

    def set_usable(self, *, choose: bool, rescan: bool) -> None:
        self.choose.setEnabled(choose)
        self.rescan.setEnabled(rescan)

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder to Fine-tune On", str(Path.home()))
        if folder:
            self.folderChosen.emit(Path(folder))
