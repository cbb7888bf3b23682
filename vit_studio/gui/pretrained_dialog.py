"""Model ▸ Get Pretrained…: the catalogue with sizes, licences and what is here already, and a
download with its size, speed and Cancel. Nothing downloads until the user clicks Get."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from vit_studio.engine.hub import CatalogueEntry, available_models, local_path
from vit_studio.engine.hub.caches import cache_location
from vit_studio.gui.workers.downloads import DownloadClient, DownloadProgress

HERE, NOT_HERE = "here", "get"
_COLUMNS = ("Model", "Size", "Licence", "On this computer")
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class PretrainedDialog(QDialog):
    """The catalogue, and one download at a time; `modelReady(path)` when one is here to open."""

    modelReady = Signal(Path)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Get Pretrained Model")
        self.resize(760, 420)
        self._entries = available_models()
        self._cancelling = False  # the user asked to stop the download under way
        self._client = DownloadClient(self)
        self._client.progress.connect(self._on_progress)
        self._client.finished.connect(self._on_finished)
        self._client.failed.connect(self._on_failed)
        self._client.runningChanged.connect(self._on_running)
        self._build()
        self.refresh()

    def _build(self) -> None:
        self._table = QTableWidget(len(self._entries), len(_COLUMNS), self)
        self._table.setHorizontalHeaderLabels(_COLUMNS)
        self._table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self._table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self._table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._table.verticalHeader().hide()
        header = self._table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(_COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self._table.itemSelectionChanged.connect(self._update_buttons)
        self._table.itemDoubleClicked.connect(lambda _item: self._get_selected())
        note = QLabel(
            "Files go into the standard caches (the torch hub's checkpoints folder, the Hugging "
            "Face cache), where other tools find them too. Nothing is downloaded until you "
            "click Get; a cancelled download continues where it stopped next time."
        )
        note.setWordWrap(True)
        self._bar = QProgressBar(self)
        self._bar.setTextVisible(False)
        self._status = QLabel("", self)
        self._status.setWordWrap(True)
        self._get = QPushButton("Get", self)
        self._get.clicked.connect(self._get_selected)
        self._cancel = QPushButton("Cancel Download", self)
        self._cancel.clicked.connect(self.cancel)
        close = QPushButton("Close", self)
        close.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self._status, 1)
        for button in (self._get, self._cancel, close):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(note)
        layout.addWidget(self._table, 1)
        layout.addWidget(self._bar)
        layout.addLayout(buttons)
        self._on_running(False)

    # --- the testable surface -----------------------------------------------------------------

    def entries(self) -> list[CatalogueEntry]:
        return list(self._entries)

    def availability(self, name: str) -> str:
        """HERE or NOT_HERE for the entry called `name`, as its row shows."""
        return self._table.item(self._row_of(name), 3).text()

    def status_text(self) -> str:
        return self._status.text()

    @property
    def downloading(self) -> bool:
        return self._client.running

    def select(self, name: str) -> None:
        if any(entry.name == name for entry in self._entries):
            self._table.selectRow(self._row_of(name))

    def get(self, entry: CatalogueEntry) -> None:
        """Open `entry` if it is here, else download it (showing the dialog)."""
        path = local_path(entry)
        if path is not None:
            self.modelReady.emit(path)
            return
        self._status.setText(f"{entry.title}: connecting…")
        self._bar.setRange(0, 0)  # busy until the server says the size
        self._client.start(entry)

    def cancel(self) -> None:
        """Stop the download at its next chunk; Get resumes it from the partial file."""
        if self._client.running:
            self._cancelling = True
            self._client.cancel()

    def stop(self, timeout_ms: int = 5000) -> bool:
        return self._client.stop(timeout_ms)

    def refresh(self) -> None:
        """Show which entries are here; reads the caches only (no network)."""
        for row, entry in enumerate(self._entries):
            here = local_path(entry) is not None
            cells = (
                entry.title,
                _size_text(entry.size_bytes),
                entry.licence,
                HERE if here else NOT_HERE,
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(f"{entry.reference}\n{cache_location(entry)}")
                if column == 1:
                    item.setTextAlignment(_RIGHT)
                self._table.setItem(row, column, item)
        self._update_buttons()

    # --- reacting -----------------------------------------------------------------------------

    def _row_of(self, name: str) -> int:
        return next(i for i, entry in enumerate(self._entries) if entry.name == name)

    def _selected(self) -> CatalogueEntry | None:
        rows = self._table.selectionModel().selectedRows()
        return self._entries[rows[0].row()] if rows else None

    def _get_selected(self) -> None:
        entry = self._selected()
        if entry is not None and not self._client.running:
            self.get(entry)

    def _update_buttons(self) -> None:
        entry = self._selected()
        running = self._client.running
        self._get.setEnabled(entry is not None and not running)
        here = entry is not None and local_path(entry) is not None
        self._get.setText("Open" if here else "Get")
        self._cancel.setEnabled(running)

    def _on_progress(self, progress: DownloadProgress) -> None:
        if progress.total:
            # Progress bars count in ints: kilobytes keep a 1 GB file well inside the range.
            self._bar.setRange(0, max(1, progress.total // 1024))
            self._bar.setValue(progress.done // 1024)
        self._status.setText(progress.text())

    def _on_finished(self, entry: CatalogueEntry, path: Path) -> None:
        self._bar.setRange(0, 1)
        self._bar.setValue(1)
        self._status.setText(f"{entry.title}: here, opening it")
        self.refresh()
        self.modelReady.emit(path)

    def _on_failed(self, message: str) -> None:
        self._bar.setRange(0, 1)
        self._bar.setValue(0)
        self._status.setText(message)

    def _on_running(self, running: bool) -> None:
        if not running and self._cancelling:
            self._cancelling = False
            entry = self._client.entry
            self._bar.setRange(0, 1)
            self._bar.setValue(0)
            self._status.setText(
                f"{entry.title if entry else 'The download'}: cancelled; Get continues where it "
                "stopped"
            )
        self._update_buttons()


def _size_text(size: int) -> str:
    if not size:
        return "unknown"
    return f"{size / 1e9:.2f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"
