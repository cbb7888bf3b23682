"""Head ablation in the explorer: Ctrl-click heads under Attention to knock them out, and the
Predictions tab shows the prediction without them beside the original. The knocked-out heads
add up until a new analysis (another image or model); Ctrl-clicking one again puts it back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vit_studio.gui.state.explorer import ExplorerState
from vit_studio.gui.view_tabs import ViewTabs
from vit_studio.gui.workers.inference import InferenceClient


def connect_ablation(
    views: ViewTabs, inference: InferenceClient, state: ExplorerState
) -> Callable[[], tuple[tuple[int, int], ...]]:
    """Wire Ctrl-click to the worker and its answer to the predictions; returns a function that
    says which (layer, head) pairs are knocked out now."""
    knocked: list[tuple[int, int]] = []
    shown: list[tuple] = [None]  # (image, model file) the knocked-out heads are of

    def toggle(layer: int, head: int) -> None:
        if state.result is None:
            return
        if (layer, head) in knocked:
            knocked.remove((layer, head))
        else:
            knocked.append((layer, head))
        if knocked:
            inference.ablate(state.result.path, tuple(knocked))
        else:
            views.predictions.clear_ablation()

    def ready(path: Path, heads: tuple[tuple[int, int], ...], probs) -> None:
        if state.result is not None and path == state.result.path and heads == tuple(knocked):
            views.predictions.show_ablation(state.result.analysis, heads, probs)

    def forget(result) -> None:
        # Another analysis of the same image and model (class gradients arriving) keeps them.
        key = (result.path, state.model.path if state.model is not None else None)
        if key != shown[0]:
            shown[0] = key
            knocked.clear()
            views.predictions.clear_ablation()

    views.attention.headAblated.connect(toggle)
    inference.ablationReady.connect(ready)
    state.result_changed.connect(forget)
    return lambda: tuple(knocked)
