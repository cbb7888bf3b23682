"""A one-line message above a view: an error (red) or a notice (blue), dismissible."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

ERROR_STYLE = (
    "QFrame { background: #f8d7da; border: 1px solid #e0a0a6; border-radius: 4px; }"
    "QLabel { color: #58151c; border: none; }"
)
NOTICE_STYLE = (
    "QFrame { background: #e7f1fb; border: 1px solid #a9c8e8; border-radius: 4px; }"
    "QLabel { color: #1d3b5a; border: none; }"
)


class Banner(QFrame):
    """Hidden until `show_error` or `show_notice`; the ✕ button (or `clear`) hides it again."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._label = QLabel()
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss this message")
        close.clicked.connect(self.clear)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self._label, 1)
        layout.addWidget(close)
        self._error = False
        self.hide()

    def show_error(self, message: str) -> None:
        self._show(message, error=True)

    def show_notice(self, message: str) -> None:
        self._show(message, error=False)

    def clear(self) -> None:
        self.hide()
        self._label.clear()

    def text(self) -> str:
        return self._label.text()

    def error_text(self) -> str:
        """The error shown ('' when none is, or the message is a notice)."""
        return self._label.text() if self._error and not self.isHidden() else ""

    def _show(self, message: str, *, error: bool) -> None:
        self._error = error
        self.setStyleSheet(ERROR_STYLE if error else NOTICE_STYLE)
        self._label.setText(message)
        self.show()
