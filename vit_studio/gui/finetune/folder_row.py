"""The row above the fine-tune panel's pages: the folder trained on, Choose Folder… and Rescan."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QWidget


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
        self._label = QLabel("No folder chosen")
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
        self._label.setText(text)
        self._label.setToolTip(tooltip or text)

    def set_usable(self, *, choose: bool, rescan: bool) -> None:
        self.choose.setEnabled(choose)
        self.rescan.setEnabled(rescan)

    def _ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder to Fine-tune On", str(Path.home()))
        if folder:
            self.folderChosen.emit(Path(folder))
