"""The Fine-tune tab's panel, made when the tab is first shown or used: it brings the training
pipeline (and torch), which the explorer's first picture does not need. Once made, it follows
the explorer's model (with the head count the user gave) and device."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vit_studio.engine.model import HEADS_GIVEN
from vit_studio.gui.state.explorer import ExplorerState
from vit_studio.gui.state.results import ModelSummary

if TYPE_CHECKING:
    from vit_studio.gui.finetune.panel import FinetunePanel


class FinetuneTab:
    """`make` builds the panel (the view tabs call it once); until then there is nothing to
    tell it or to stop. `open_in_explorer(path)` opens a fine-tuned model in the explorer."""

    def __init__(
        self, state: ExplorerState, runs_dir: Path, num_threads: int | None,
        open_in_explorer: Callable[[Path], None],
    ) -> None:  # fmt: skip
        self._state = state
        self._runs_dir = runs_dir
        self._num_threads = num_threads
        self._open_in_explorer = open_in_explorer
        self.panel: FinetunePanel | None = None

    def make(self) -> FinetunePanel:
        from vit_studio.gui.finetune.panel import FinetunePanel

        panel = FinetunePanel(self._runs_dir, num_threads=self._num_threads,
                              device=self._state.device)  # fmt: skip
        panel.openInExplorer.connect(self._open_in_explorer)
        self.panel = panel
        if self._state.model is not None:
            self.follow_model(self._state.model)
        return panel

    def follow_model(self, summary: ModelSummary) -> None:
        if self.panel is not None:
            given = summary.arch.num_heads if summary.heads_source == HEADS_GIVEN else None
            self.panel.set_explorer_model(summary.path, summary.name, given)

    def follow_device(self, device: str) -> None:
        if self.panel is not None:
            self.panel.set_device(device)

    def shutdown(self, timeout_ms: int) -> bool:
        return self.panel is None or self.panel.shutdown(timeout_ms)
