"""How the explorer's window is laid out around the picture, and how it remembers that.

The image pane is the central widget and takes what the side panels leave. The side panels are
dock widgets in one narrow column on the right: the folder's filmstrip on top, the views (the
charts) below it, and the model card as a tab beside the views, since it is read now and then
while the charts are read all the time. Each panel can be closed (View menu), moved or floated;
`save` and `restore` keep which are shown, where and how wide across restarts
(QMainWindow.saveState). The fine-tune panel needs room: while it is in front the column widens
to what the photo can spare, keeping the photo at least half the window wide (the controls
beside the photo, which change its map, step aside meanwhile), and it narrows again when
another view comes back.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QListWidget,
    QMainWindow,
    QVBoxLayout,
    QWidget,
)

from vit_studio.gui.settings import Settings
from vit_studio.gui.view_tabs import ViewTabs
from vit_studio.gui.widgets.view_chooser import ViewChooser

# QMainWindow.saveState's version: a layout saved by a version with other docks is not restored.
LAYOUT_VERSION = 2
SIDE_SHARE = 0.25  # of the window's width, for the side column on a first run
SIDE_MIN, SIDE_MAX = 260, 560  # pixels: readable charts; never more than the picture needs
FIRST_SIZE = (1400, 900)  # a first run's window, before the desktop or the user sizes it
QWIDGETSIZE_MAX = (1 << 24) - 1  # Qt's "no maximum"
EMPTY_FOLDER_TEXT = "No folder yet: File ▸ Open Folder… shows its images here."
PHOTO_SHARE = 0.5  # of the window's width: the least the photo keeps, fine-tune panel or not
# Pixels the photo keeps beyond that share: the colour bar beside it widens with its tick
# labels when another map is painted.
PHOTO_SLACK = 16


def side_width(window_width: int) -> int:
    """The side column's width for a window `window_width` wide, on a first run."""
    return max(SIDE_MIN, min(SIDE_MAX, round(window_width * SIDE_SHARE)))


class FolderPanel(QWidget):
    """The filmstrip, or while it is empty one line saying how to fill it. `filled()` when
    the strip gets images after having none."""

    filled = Signal()

    def __init__(self, filmstrip: QListWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._strip = filmstrip
        self.empty_note = QLabel(EMPTY_FOLDER_TEXT)
        self.empty_note.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.addWidget(self.empty_note)
        layout.addWidget(filmstrip)
        model = filmstrip.model()
        for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset):
            signal.connect(self._show)
        self._show()

    def _show(self) -> None:
        empty = self._strip.count() == 0
        was_empty = self._strip.isHidden()
        self._strip.setHidden(empty)
        self.empty_note.setVisible(empty)
        # While empty, no taller than its line: the views below get the height.
        self.setMaximumHeight(self.minimumSizeHint().height() if empty else QWIDGETSIZE_MAX)
        if was_empty and not empty:
            self.filled.emit()


class WindowLayout(QObject):
    """The docks of `window` and what they do when views change; see the module.
    `picture`, the central widget, is a `split_view.SplitView`: its first pane's `controls`
    step aside and its `image_view` keeps its share of the width while the fine-tune panel is
    in front."""

    def __init__(
        self, window: QMainWindow, views: ViewTabs, model_panel: QWidget, filmstrip: QListWidget,
        picture,
    ) -> None:  # fmt: skip
        super().__init__(window)
        self._window = window
        self._views = views
        self._picture = picture
        right = Qt.DockWidgetArea.RightDockWidgetArea
        self.folder_panel = FolderPanel(filmstrip)
        self.folder_panel.filled.connect(self._fit_folder)
        self.folder_dock = self._dock("folder", "Folder", self.folder_panel, right)
        self.view_chooser = ViewChooser(views)
        self.views_dock = self._dock("views", "Views", self.view_chooser.panel, right)
        self.model_dock = self._dock("model", "Model", model_panel, right)
        window.tabifyDockWidget(self.views_dock, self.model_dock)
        self.views_dock.raise_()
        window.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks
        )
        self._restored = False
        self._settled = False
        self._narrow_width: int | None = None  # the column's width before fine-tune widened it
        views.currentChanged.connect(lambda _index: self.fit_view())
        window.installEventFilter(self)  # a resized window re-fits the fine-tune panel

    @property
    def docks(self) -> tuple[QDockWidget, ...]:
        return (self.views_dock, self.model_dock, self.folder_dock)

    def _dock(self, name: str, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self._window)
        dock.setObjectName(f"{name}_dock")  # saveState/restoreState find docks by name
        dock.setWidget(widget)
        self._window.addDockWidget(area, dock)
        return dock

    # --- remembering ------------------------------------------------------------------------------

    def restore(self, settings: Settings) -> None:
        """The window's size and its panels as the last session left them, if it did."""
        window = self._window
        geometry, state = settings.window_geometry, settings.window_state
        if geometry is None or not window.restoreGeometry(geometry):
            window.resize(*FIRST_SIZE)
        self._restored = state is not None and window.restoreState(state, LAYOUT_VERSION)
        if settings.split_view:
            self._picture.set_split(True)

    def save(self, settings: Settings) -> None:
        if self._narrow_width is not None:  # the fine-tune panel has the window: not for next time
            self._window.resizeDocks(
                [self.views_dock], [self._narrow_width], Qt.Orientation.Horizontal
            )
        settings.window_geometry = self._window.saveGeometry()
        settings.window_state = self._window.saveState(LAYOUT_VERSION)
        settings.split_view = self._picture.is_split()

    def settle(self) -> None:
        """On the first show: a layout nobody saved gets the first-run proportions for the
        window's size then (the command line may have resized it since `restore`)."""
        if self._settled:
            return
        self._settled = True
        if not self._restored:
            window = self._window
            self._narrow_width = None
            window.resizeDocks(
                [self.views_dock], [side_width(window.width())], Qt.Orientation.Horizontal
            )
            self._fit_folder()
            window.layout().activate()  # lay out now: a view shown next reads the real widths
        self.fit_view()

    def _fit_folder(self) -> None:
        """The filmstrip's one row of thumbnails when it has some, one line when it has none."""
        window = self._window
        strip = self.folder_panel.sizeHint().height()
        window.resizeDocks(
            [self.folder_dock, self.views_dock],
            [strip, max(strip, window.height() - strip)],
            Qt.Orientation.Vertical,
        )

    # --- views and full screen --------------------------------------------------------------------

    def show_views(self) -> None:
        """Make sure the charts are visible: their panel shown and in front of the model card."""
        self.views_dock.show()
        self.views_dock.raise_()

    def fit_view(self) -> None:
        """Widen the column for the fine-tune panel, and give the picture its room back after."""
        window, dock = self._window, self.views_dock
        fine_tuning = self._views.current_view() == "finetune" and not dock.isFloating()
        self._picture.pane.controls.setHidden(fine_tuning)
        if fine_tuning:
            if self._narrow_width is None:
                self._narrow_width = dock.width()
            self._widen_for_finetune()
        elif self._narrow_width is not None:
            window.resizeDocks([dock], [self._narrow_width], Qt.Orientation.Horizontal)
            self._narrow_width = None

    def _fine_tune_width(self) -> int:
        """The column's width while the fine-tune panel is in front: what the photo can spare
        of the window, up to half of it."""
        window, dock = self._window, self.views_dock
        self._activate()
        canvas = self._picture.pane.image_view.canvas
        photo = math.ceil(window.width() * PHOTO_SHARE) + PHOTO_SLACK
        spare = canvas.width() - photo
        narrow = self._narrow_width if self._narrow_width is not None else dock.width()
        return max(narrow, min(dock.width() + spare, window.width() // 2))

    def _widen_for_finetune(self) -> None:
        window = self._window
        window.resizeDocks([self.views_dock], [self._fine_tune_width()], Qt.Orientation.Horizontal)
        self._activate()

    def _activate(self) -> None:
        """Lay the window out now, down to the picture, so that its widths can be read."""
        self._window.layout().activate()
        pane = self._picture.pane
        for layout in (pane.layout(), pane.image_view.layout()):
            layout.activate()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize and self._narrow_width is not None:
            self._widen_for_finetune()
        return False

    def set_full_screen(self, full: bool) -> None:
        """Full screen (F11) or back, keeping whether the window was maximised."""
        window = self._window
        state = window.windowState()
        if full:
            window.setWindowState(state | Qt.WindowState.WindowFullScreen)
        else:
            window.setWindowState(state & ~Qt.WindowState.WindowFullScreen)
