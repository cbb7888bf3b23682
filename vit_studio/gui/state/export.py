"""Saving what the explorer shows: the analysis as JSON or NPZ, with the map on screen.

The NPZ holds the same arrays as `vit-studio analyze --npz` (`engine.export`: one layout for
scripts to read), plus `view_map`, the patch map the window was showing. Writes are atomic.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vit_studio.engine import export as engine_export
from vit_studio.engine.analysis import TOP_K
from vit_studio.engine.errors import StudioError
from vit_studio.engine.fileio import write_text_atomic
from vit_studio.gui.state.explorer import ExplorerState
from vit_studio.gui.state.results import ImageResult, ModelSummary


@dataclass(frozen=True)
class ViewState:
    """What the window shows on top of the analysis (layers, heads, classes 0-based)."""

    overlay: str
    title: str
    layer: int
    head: int  # -1: mean over heads
    patch: int | None
    class_index: int | None
    rollout: dict[str, Any]


def view_state(state: ExplorerState) -> ViewState:
    """What `state` shows on top of its analysis."""
    return ViewState(
        overlay=state.overlay_kind,
        title=state.overlay.title if state.overlay is not None else "",
        layer=state.layer,
        head=state.head,
        patch=state.patch,
        class_index=state.class_index,
        rollout=asdict(state.effective_rollout),
    )


def analysis_document(
    result: ImageResult, model: ModelSummary, view: ViewState, view_map: np.ndarray | None
) -> dict[str, Any]:
    analysis = result.analysis
    return {
        "image": str(result.path),
        "model": {"name": model.name, "path": str(model.path), "device": result.device},
        "image_size": analysis.image_size,
        "patch_size": analysis.patch_size,
        "grid_size": analysis.grid_size,
        **engine_export.analysis_record(analysis, TOP_K, {"decode": result.decode_ms}),
        "view": asdict(view),
        "view_map": None if view_map is None else np.round(view_map, 6).tolist(),
        "mean_attention_distance": np.round(analysis.mean_attention_distance, 4).tolist(),
    }


def write_analysis(path: Path, state: ExplorerState) -> None:
    """The analysis `state` shows, as NPZ or (any other suffix) JSON; raises `StudioError`
    when there is none yet or the file cannot be written."""
    if state.result is None or state.model is None:
        raise StudioError("nothing to export yet; open an image and wait for its analysis")
    if path.suffix.lower() == ".npz":
        extra = {} if state.view_map is None else {"view_map": state.view_map}
        engine_export.write_npz(path, state.result.analysis, extra)
        return
    document = analysis_document(state.result, state.model, view_state(state), state.view_map)
    write_text_atomic(path, json.dumps(document, indent=2) + "\n", "the analysis JSON")
