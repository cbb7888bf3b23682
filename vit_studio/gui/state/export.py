"""Saving what the explorer shows: the analysis as JSON or NPZ, with the map on screen.

The NPZ holds the same arrays as `vit-studio analyze --npz` (`engine.export`: one layout for
scripts to read), plus `view_map`, the patch map the window was showing. The JSON also says where
the model's input was cut from the photo (`crop`, in the file's pixels), so a script can paint
the map over the photo as the window does. Writes are atomic and durable, and the window makes
them in its export thread (`analysis_writer`), not on the GUI thread.
"""

from __future__ import annotations

import json
from collections.abc import Callable
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
        "crop": crop_record(result),
    }


def crop_record(result: ImageResult) -> dict[str, Any] | None:
    """The photo's size and the box (left, top, right, bottom) the model's input was cut from,
    in the file's pixels; patch (row, column) is cell (row, column) of that box cut in
    `grid_size` × `grid_size`. None when the photo is not known."""
    if result.original is None:
        return None
    width, height = result.original.source_size
    geometry = result.original.geometry.scaled_to(width, height)
    return {
        "photo_size": [width, height],
        "box": [round(edge, 3) for edge in geometry.crop],
        "grid_size": geometry.grid_size,
    }


def analysis_writer(path: Path, state: ExplorerState) -> Callable[[], None]:
    """Writing the analysis `state` shows to `path` (NPZ, or JSON for any other suffix), as a
    function that may run in another thread: what it writes is taken from `state` now. Raises
    `StudioError` when there is no analysis yet; the function, when the file cannot be written.
    """
    if state.result is None or state.model is None:
        raise StudioError("nothing to export yet; open an image and wait for its analysis")
    analysis = state.result.analysis
    if path.suffix.lower() == ".npz":
        extra = {} if state.view_map is None else {"view_map": np.array(state.view_map)}
        return lambda: engine_export.write_npz(path, analysis, extra)
    document = analysis_document(state.result, state.model, view_state(state), state.view_map)
    return lambda: write_text_atomic(
        path, json.dumps(document, indent=2) + "\n", "the analysis JSON"
    )


def write_analysis(path: Path, state: ExplorerState) -> None:
    """`analysis_writer(path, state)`, written now."""
    analysis_writer(path, state)()
