"""Rollout settings: how attention is rolled out to a patch map, and the map they select."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from vit_studio.engine.analysis import Analysis
from vit_studio.engine.attribution import HEAD_FUSIONS

ROLLOUT_MODES = ("plain", "gradient")
MAX_DISCARD_RATIO = 0.99  # the engine needs < 1: discarding everything leaves no attention


@dataclass(frozen=True)
class RolloutSettings:
    """How to roll attention out to a patch map; `start_layer` is 0-based.

    Invalid values raise ValueError, so settings restored from disk fail loudly, not later.
    """

    mode: str = "plain"
    head_fusion: str = "mean"
    discard_ratio: float = 0.0
    start_layer: int = 0

    def __post_init__(self) -> None:
        if self.mode not in ROLLOUT_MODES:
            raise ValueError(f"rollout mode '{self.mode}' is not one of {ROLLOUT_MODES}")
        if self.head_fusion not in HEAD_FUSIONS:
            raise ValueError(f"head fusion '{self.head_fusion}' is not one of {HEAD_FUSIONS}")
        if not 0.0 <= self.discard_ratio <= MAX_DISCARD_RATIO:
            raise ValueError(f"discard ratio {self.discard_ratio} is not in 0..{MAX_DISCARD_RATIO}")
        if self.start_layer < 0:
            raise ValueError(f"start layer {self.start_layer} is negative")

    def for_layers(self, num_layers: int) -> RolloutSettings:
        """These settings for a model of `num_layers` (a start layer past its depth is clipped;
        the settings themselves keep it for the next, deeper model)."""
        return replace(self, start_layer=min(self.start_layer, max(0, num_layers - 1)))


def rollout_map(analysis: Analysis, settings: RolloutSettings, class_index: int) -> np.ndarray:
    """The `[g, g]` rollout map (max 1) that `settings` asks for.

    `class_index` only matters in gradient mode, where it must be one of
    `analysis.class_relevance`; otherwise the engine raises a `StudioError` saying so.
    """
    if settings.mode == "gradient":
        return analysis.gradient_rollout(class_index, settings.discard_ratio, settings.start_layer)
    return analysis.rollout(settings.head_fusion, settings.discard_ratio, settings.start_layer)
