"""The explorer's central area: the image pane, and in split view a second pane beside it
(`compare_pane.ComparePane`) with the selected patch kept at the same place in both
(`state.patch_link`).

The second pane, with its model and thread, is made the first time the split is asked for and
kept while the window lives, so closing and reopening the split keeps what it was set to.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QSplitter, QWidget

from vit_studio.gui.compare_pane import ComparePane
from vit_studio.gui.image_pane import ImagePane
from vit_studio.gui.state.explorer import ExplorerState
from vit_studio.gui.state.overlay import patch_label
from vit_studio.gui.state.patch_link import PatchLink

OUTSIDE_NOTE = (
    "Patch {patch} of the other pane lies outside the crop this model sees: "
    "the selection here stays where it was."
)


class SplitView(QSplitter):
    """See the module. `make_compare()` builds the second pane; `splitChanged(bool)` when the
    split opens or closes."""

    splitChanged = Signal(bool)

    def __init__(
        self,
        pane: ImagePane,
        make_compare: Callable[[], ComparePane],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.pane = pane
        self.compare: ComparePane | None = None
        self._make_compare = make_compare
        self._link: PatchLink | None = None
        self._notes: dict = {}  # the outside-the-crop note each banner shows, by banner
        self.setChildrenCollapsible(False)
        self.addWidget(pane)

    def is_split(self) -> bool:
        return self.compare is not None and not self.compare.isHidden()

    def set_split(self, split: bool) -> None:
        """Show the second pane beside the first (made the first time), or hide it."""
        if split == self.is_split():
            return
        if split and self.compare is None:
            self.compare = self._make_compare()
            self.addWidget(self.compare)
        compare = self.compare
        if split:
            compare.show()
            self.setSizes([1, 1])  # two equal halves, whatever the window's width
            self._link = PatchLink(self.pane.state, compare.state, self._placed)
        elif compare is not None:
            compare.hide()
            if self._link is not None:
                self._link.unlink()
                self._link = None
        self.splitChanged.emit(split)

    def stop(self, timeout_ms: int) -> bool:
        return self.compare is None or self.compare.stop(timeout_ms)

    def _placed(self, target: ExplorerState, inside: bool) -> None:
        """Say in the target pane's banner when the other pane's patch has no place in it."""
        banner = self.pane.banner if target is self.pane.state else self.compare.pane.banner
        if inside:
            if banner.text() == self._notes.pop(banner, None):  # ours, not an error since
                banner.clear()
            return
        source = self.compare.state if target is self.pane.state else self.pane.state
        grid = source.result.analysis.grid_size
        note = OUTSIDE_NOTE.format(patch=patch_label(source.patch, grid))
        if not banner.error_text():  # an error says more; the note waits for the next pick
            banner.show_notice(note)
            self._notes[banner] = note
