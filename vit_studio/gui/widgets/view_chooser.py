"""The views' tabs as buttons that wrap onto a second row, so that all ten stay in sight in a
narrow side panel (a tab bar would hide most of them behind scroll arrows)."""

from __future__ import annotations

from PySide6.QtWidgets import QButtonGroup, QTabWidget, QToolButton, QVBoxLayout, QWidget

from vit_studio.gui.widgets.flow_layout import FlowLayout


class ViewChooser(QWidget):
    """A button per tab of `tabs` (its text and tooltip), the current one checked; `tabs`'s own
    tab bar is hidden. `panel` holds the buttons above the tabs: put it where the tabs would go."""

    def __init__(self, tabs: QTabWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tabs = tabs
        tabs.tabBar().hide()
        self._group = QButtonGroup(self)
        flow = FlowLayout(self, spacing=2)
        flow.setContentsMargins(2, 2, 2, 2)
        for index in range(tabs.count()):
            button = QToolButton()
            button.setText(tabs.tabText(index))
            button.setToolTip(tabs.tabToolTip(index))
            button.setCheckable(True)
            button.setAutoRaise(True)
            self._group.addButton(button, index)
            flow.addWidget(button)
        self._group.idClicked.connect(tabs.setCurrentIndex)
        tabs.currentChanged.connect(self._show_current)
        self._show_current(tabs.currentIndex())
        self.panel = QWidget()
        layout = QVBoxLayout(self.panel)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self)
        layout.addWidget(tabs, 1)

    def button(self, index: int) -> QToolButton:
        return self._group.button(index)

    def _show_current(self, index: int) -> None:
        button = self._group.button(index)
        if button is not None:
            button.setChecked(True)
