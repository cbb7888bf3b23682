"""A one-line message above a view: an error (red) or a notice (blue), dismissible.

Its colours follow the palette (`theme.banner_style`), so it reads on a light and a dark window.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QWidget

from vit_studio.gui import theme

# The light styles, for widgets that paint an error box of their own.
ERROR_STYLE = theme.banner_style("error", dark=False)
NOTICE_STYLE = theme.banner_style("notice", dark=False)
PALETTE_EVENTS = (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange)


class Banner(QFrame):
    """Hidden until `show_error` or `show_notice`; the ✕ button (or `clear`) hides it again,
    `clear_stale` too unless it shows a sticky notice (one the user should read, whatever loads).
    A notice may carry one action, a button beside it ("Resume").

    `dismissed()` when the user closes it with ✕.
    """

    dismissed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._label = QLabel()
        self._label.setWordWrap(True)
        self._label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss this message")
        close.clicked.connect(self.clear)
        close.clicked.connect(self.dismissed)
        self.action = QToolButton()
        self.action.clicked.connect(self._act)
        self._on_action: Callable[[], None] | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 4, 4)
        layout.addWidget(self._label, 1)
        layout.addWidget(self.action)
        layout.addWidget(close)
        self._error = False
        self._sticky = False
        self.hide()

    def show_error(self, message: str) -> None:
        self._show(message, error=True)

    def show_notice(
        self,
        message: str,
        action: tuple[str, Callable[[], None]] | None = None,
        *,
        sticky: bool = False,
    ) -> None:
        """`action`: (the button's text, what it does; the banner closes as it does it)."""
        self._show(message, error=False)
        self._sticky = sticky
        if action is not None:
            self.action.setText(action[0])
            self._on_action = action[1]
            self.action.show()

    def clear(self) -> None:
        self.hide()
        self._label.clear()

    def clear_stale(self) -> None:
        """Clear what a new model or result makes stale: anything but a sticky notice."""
        if not self._sticky:
            self.clear()

    def text(self) -> str:
        return self._label.text()

    def error_text(self) -> str:
        """The error shown ('' when none is, or the message is a notice)."""
        return self._label.text() if self._error and not self.isHidden() else ""

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() in PALETTE_EVENTS:
            self.restyle()

    def _act(self) -> None:
        act = self._on_action
        self.clear()
        if act is not None:
            act()

    def _show(self, message: str, *, error: bool) -> None:
        self._on_action = None
        self.action.hide()
        self._error, self._sticky = error, False
        self.restyle()
        self._label.setText(message)
        self.show()

    def restyle(self) -> None:
        """Take the colours for the application's palette now (light or dark)."""
        # The application's palette: a style sheet of our own changes this widget's.
        style = theme.banner_style("error" if self._error else "notice")
        if style != self.styleSheet():  # setting a style sheet sends a PaletteChange itself
            self.setStyleSheet(style)
