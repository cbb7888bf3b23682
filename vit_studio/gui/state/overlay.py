"""Which patch map to paint over the image, with its title and colour-bar scale.

A function of the cached analysis and the window's choices only (overlay kind, rollout
settings, layer, head, patch, class), so every control redraws without the model, and the
choice can be tested without a window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vit_studio.engine.analysis import Analysis
from vit_studio.engine.model import NO_CLASSIFIER
from vit_studio.gui.state.rollout import RolloutSettings, rollout_map

MEAN_HEAD = -1  # the `head` that stands for the mean over heads
DEFAULT_COLORMAP = "inferno"  # matplotlib's name; attention and rollout maps
SIMILARITY_COLORMAP = "viridis"  # the position-embedding mosaic's colours, so the two read alike
SIGNED_COLORMAP = "RdBu_r"  # diverging: red for the class, blue against it, white for neither
ATTENTION_LABEL = "attention weight"
SIMILARITY_LABEL = "cosine similarity"

# Overlay kinds, in the order the window offers them, with what each paints.
OVERLAYS = {
    "rollout": "Attention rollout",
    "gradcam": "Grad-CAM (chosen class)",
    "attnlrp": "AttnLRP relevance (chosen class, signed)",
    "attention": "Class-token attention (selected layer and head)",
    "patch": "Where the selected patch attends",
    "posembed": "Position similarity of the selected patch",
    "none": "Nothing (image only)",
}


def patch_label(patch: int, grid_size: int) -> str:
    """'row 3, column 5' for people (1-based, like every label in the app)."""
    row, column = divmod(patch, grid_size)
    return f"row {row + 1}, column {column + 1}"


def head_text(head: int) -> str:
    """'head 3', or 'mean of heads' for `MEAN_HEAD`."""
    return "mean of heads" if head == MEAN_HEAD else f"head {head + 1}"


@dataclass(frozen=True)
class Overlay:
    """A `[g, g]` map with its title and colour-bar scale; without a map, a title alone.

    `awaiting_gradients`: the class-specific rollout, Grad-CAM or AttnLRP needs a pass for a
    class the analysis has not cached, so there is nothing to paint until it is computed.
    """

    title: str
    grid_map: np.ndarray | None = None
    label: str = ""
    vmin: float | None = None
    vmax: float | None = None
    colormap: str = DEFAULT_COLORMAP
    awaiting_gradients: bool = False


def overlay_for(
    analysis: Analysis,
    kind: str,
    rollout: RolloutSettings,
    *,
    layer: int,
    head: int,
    patch: int | None,
    class_index: int | None,
) -> Overlay:
    """The overlay of `kind` (a key of `OVERLAYS`) for the selected layer, head (`MEAN_HEAD`:
    mean of heads), patch (None: none clicked yet) and class (None: a backbone's, which has
    none), all 0-based."""
    g = analysis.grid_size
    if kind == "rollout":
        return _rollout_overlay(analysis, rollout, class_index)
    if kind in CLASS_MAPS:
        return _class_overlay(analysis, kind, class_index)
    if kind == "attention":
        maps = analysis.cls_attention[layer]
        return Overlay(
            f"Class-token attention, layer {layer + 1}, {head_text(head)}",
            maps.mean(axis=0) if head == MEAN_HEAD else maps[head],
            ATTENTION_LABEL,
            vmin=0.0,
        )
    if kind in ("patch", "posembed") and patch is None:
        return Overlay("Click a patch on the image to inspect it")
    if kind == "patch":
        return Overlay(
            f"Where patch {patch_label(patch, g)} attends, layer {layer + 1}, {head_text(head)}",
            analysis.patch_attention(layer, patch, None if head == MEAN_HEAD else head),
            ATTENTION_LABEL,
            vmin=0.0,
        )
    if kind == "posembed":
        return Overlay(
            f"Position-embedding similarity of patch {patch_label(patch, g)}",
            analysis.patch_pos_similarity(patch),
            SIMILARITY_LABEL,
            vmin=-1.0,
            vmax=1.0,
            colormap=SIMILARITY_COLORMAP,
        )
    return Overlay(f"The image as the model sees it: {analysis.image_size} px, {g} × {g} patches")


# Maps of one class, cached per class in the analysis: (what it is, colour-bar label).
CLASS_MAPS = {
    "gradcam": ("Grad-CAM", "gradient-weighted attention (max = 1)"),
    "attnlrp": ("AttnLRP relevance", "relevance: for (+) or against (−) the class, max |·| = 1"),
}


def _class_overlay(analysis: Analysis, kind: str, class_index: int | None) -> Overlay:
    what, label = CLASS_MAPS[kind]
    if class_index is None or not analysis.has_classifier:
        return Overlay(f"No {what}: {NO_CLASSIFIER}")
    name = analysis.class_names[class_index]
    cached = analysis.gradcam if kind == "gradcam" else analysis.attnlrp
    if class_index not in cached:
        return Overlay(f"Computing {what} for '{name}'…", awaiting_gradients=True)
    if kind == "gradcam":
        title = f"Grad-CAM for '{name}' (last layer, heads weighted by their mean gradient)"
        return Overlay(title, cached[class_index], label, vmin=0.0, vmax=1.0)
    return Overlay(
        f"AttnLRP relevance for '{name}' (red for the class, blue against it)",
        cached[class_index], label, vmin=-1.0, vmax=1.0, colormap=SIGNED_COLORMAP,
    )  # fmt: skip


def _rollout_overlay(
    analysis: Analysis, settings: RolloutSettings, class_index: int | None
) -> Overlay:
    details = f"discard {settings.discard_ratio:.2f}, from layer {settings.start_layer + 1}"
    if settings.mode == "gradient" and (class_index is None or not analysis.has_classifier):
        return Overlay(f"No class-specific rollout: {NO_CLASSIFIER}")
    if settings.mode == "gradient":
        name = analysis.class_names[class_index]
        if class_index not in analysis.class_relevance:
            return Overlay(
                f"Computing the class-specific rollout for '{name}'…", awaiting_gradients=True
            )
        title = f"Class-specific rollout for '{name}' ({details})"
        label = "relevance (max = 1)"
    else:
        title = f"Attention rollout ({settings.head_fusion} of heads, {details})"
        label = "rolled-out attention (max = 1)"
    grid_map = rollout_map(analysis, settings, class_index)
    return Overlay(title, grid_map, label, vmin=0.0, vmax=1.0)
