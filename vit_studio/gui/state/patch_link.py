"""The split view's synchronised patch selection: a patch picked in one pane is selected in the
other, at the same place.

"The same place" is a point of the photo when both panes show the same file: the centre of the
picked patch, found in the other model's crop (the models may resize and crop differently, or
cut the crop into another number of patches). With two different images it is the same place of
the model input (the same fraction across and down). Qt-free, like the states it links.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from vit_studio.gui.state.explorer import ExplorerState
from vit_studio.gui.state.results import ImageResult

# In patches: a centre on an edge between patches (a coarse patch's centre is the corner of four
# finer ones) goes right and down, whichever way the floating-point rounding would have sent it.
EDGE = 1e-6


def linked_patch(source: ImageResult, patch: int, target: ImageResult) -> int | None:
    """The patch of `target` under the centre of `patch` (row-major, 0-based) of `source`;
    None where that place of the photo lies outside the crop `target`'s model saw."""
    g, t = source.analysis.grid_size, target.analysis.grid_size
    row, column = divmod(patch, g)
    # Where the centre lies across and down the target's crop, in target patches.
    if source.path == target.path and source.original is not None and target.original is not None:
        here, there = source.original.geometry, target.original.geometry
        left, top, right, bottom = here.patch_box(row, column)
        # Each pane keeps its own copy of the photo; fractions of its size are the same point.
        x = (left + right) / 2 / here.width * there.width
        y = (top + bottom) / 2 / here.height * there.height
        left, top, right, bottom = there.crop
        across, down = (x - left) / (right - left) * t, (y - top) / (bottom - top) * t
    else:
        across, down = (column + 0.5) * t / g, (row + 0.5) * t / g
    column, row = math.floor(across + EDGE), math.floor(down + EDGE)
    return row * t + column if 0 <= row < t and 0 <= column < t else None


class PatchLink:
    """Keeps the selected patch of two states at the same place (see the module).

    The pane the user picked a patch in last leads: when either pane gets a new analysis (another
    image, another model), the other pane's patch is placed again from the leader's. Each pane
    keeps painting its own kind of map; a map that depends on the patch follows it.
    `placed(target, inside)` hears where each copy went: `inside` False when the place lies
    outside the crop `target`'s model saw (its selection then stays as it was).
    """

    def __init__(
        self,
        first: ExplorerState,
        second: ExplorerState,
        placed: Callable[[ExplorerState, bool], None] | None = None,
    ) -> None:
        self._states = (first, second)
        self._placed = placed
        self._leader: ExplorerState | None = None
        self._copying = False
        self._slots = []
        for state, other in ((first, second), (second, first)):
            on_patch = self._patch_slot(state, other)
            on_result = self._result_slot()
            state.patch_changed.connect(on_patch)
            state.result_changed.connect(on_result)
            self._slots.append((state, on_patch, on_result))
        if first.patch is not None:
            self._leader = first
            self._copy(first, second)

    def unlink(self) -> None:
        """Stop following each other."""
        for state, on_patch, on_result in self._slots:
            state.patch_changed.disconnect(on_patch)
            state.result_changed.disconnect(on_result)
        self._slots.clear()

    def _patch_slot(self, state: ExplorerState, other: ExplorerState):
        def on_patch(_patch: int) -> None:
            if not self._copying:
                self._leader = state
                self._copy(state, other)

        return on_patch

    def _result_slot(self):
        def on_result(_result: ImageResult) -> None:
            leader = self._leader
            if leader is not None:
                first, second = self._states
                self._copy(leader, second if leader is first else first)

        return on_result

    def _copy(self, source: ExplorerState, target: ExplorerState) -> None:
        if source.patch is None or source.result is None or target.result is None:
            return
        patch = linked_patch(source.result, source.patch, target.result)
        if self._placed is not None:
            self._placed(target, patch is not None)
        if patch is None or patch == target.patch:
            return
        self._copying = True
        try:
            target.select_patch(patch, overlay=target.overlay_kind)
        finally:
            self._copying = False
