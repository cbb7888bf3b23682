"""Help ▸ Keyboard Shortcuts: every shortcut of the window's menus, read from their actions, so
the list cannot drift from what the keys do; and the mouse gestures of the image and the grid.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMenuBar,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

# What is done with the mouse (not a key, so no action carries it).
GESTURES = (
    ("Click a patch of the image", "See where it attends (Patch tab)"),
    ("Click a thumbnail under Attention", "Paint that layer and head on the image"),
    ("Ctrl-click a thumbnail under Attention", "Knock that head out and predict again"),
    ("← → in the image", "Previous / next image of the folder"),
    ("Drop files or a folder on the window", "Open them"),
)


def _plain(text: str) -> str:
    """A menu text as read: no mnemonic ampersands, no trailing ellipsis."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").removesuffix("…")


def shortcut_rows(menu_bar: QMenuBar) -> list[tuple[str, str, str]]:
    """(menu, command, keys) for every action with a shortcut under `menu_bar`, in menu order;
    the keys as the platform writes them (e.g. 'Ctrl+O', or '⌘O' on a Mac)."""
    rows: list[tuple[str, str, str]] = []

    def visit(actions: list[QAction], path: str) -> None:
        for action in actions:
            menu = action.menu()
            if menu is not None:
                visit(menu.actions(), f"{path} ▸ {_plain(action.text())}" if path
                      else _plain(action.text()))  # fmt: skip
            elif not action.isSeparator() and action.shortcuts():
                keys = ", ".join(
                    sequence.toString(QKeySequence.SequenceFormat.NativeText)
                    for sequence in action.shortcuts()
                )
                rows.append((path, _plain(action.text()), keys))

    visit(menu_bar.actions(), "")
    return rows


class ShortcutsDialog(QDialog):
    """The shortcuts of `menu_bar`'s actions as a table, then the mouse gestures."""

    def __init__(self, menu_bar: QMenuBar, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard Shortcuts")
        rows = shortcut_rows(menu_bar)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Keys", "Command", "Menu"])
        for row, (menu, command, keys) in enumerate(rows):
            for column, text in enumerate((keys, command, menu)):
                self.table.setItem(row, column, QTableWidgetItem(text))
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        gestures = QLabel(
            "<b>With the mouse</b><table>"
            + "".join(f"<tr><td>{what}&nbsp;&nbsp;</td><td>{does}</td></tr>"
                      for what, does in GESTURES)  # fmt: skip
            + "</table>"
        )
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(gestures)
        layout.addWidget(buttons)
        self.resize(620, 560)

    def rows(self) -> list[tuple[str, str, str]]:
        """(keys, command, menu) of each row shown."""
        return [
            tuple(self.table.item(row, column).text() for column in range(3))
            for row in range(self.table.rowCount())
        ]
