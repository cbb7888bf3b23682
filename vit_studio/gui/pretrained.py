"""Model ▸ Get Pretrained… and the Pretrained Models menu: a catalogued model opens at once when
it is in the caches, else the catalogue dialog downloads it (in its own thread) first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QWidget

from vit_studio.engine.hub import CatalogueEntry, local_path

if TYPE_CHECKING:
    from vit_studio.gui.pretrained_dialog import PretrainedDialog


class Pretrained:
    """Opens catalogued models with `open_model(path)`; `downloaded(path)` after a download."""

    def __init__(
        self, parent: QWidget, open_model: Callable[[Path], None],
        downloaded: Callable[[Path], None],
    ) -> None:  # fmt: skip
        self._parent = parent
        self._open_model = open_model
        self._downloaded = downloaded
        self._dialog: PretrainedDialog | None = None  # made when first asked for

    def show(self) -> PretrainedDialog:
        """The catalogue, with the downloads in their own thread."""
        if self._dialog is None:
            # With its download thread and the HTTP client: when first asked for.
            from vit_studio.gui.pretrained_dialog import PretrainedDialog

            self._dialog = PretrainedDialog(self._parent)
            self._dialog.modelReady.connect(self._downloaded)
        self._dialog.refresh()
        self._dialog.show()
        self._dialog.raise_()
        return self._dialog

    def get(self, entry: CatalogueEntry) -> None:
        """Open `entry`, downloading it first (with the dialog) when it is not here."""
        path = local_path(entry)
        if path is not None:
            self._open_model(path)
        else:
            dialog = self.show()
            dialog.select(entry.name)
            dialog.get(entry)

    def stop(self, timeout_ms: int) -> bool:
        """Stop the download thread, if the dialog was ever made."""
        return self._dialog is None or self._dialog.stop(timeout_ms)
