"""Faithfulness of every attribution method over a set of images: the mean of each AUC."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vit_studio.engine.callbacks import Cancel, Progress
from vit_studio.engine.data import SkippedFile
from vit_studio.engine.errors import Cancelled, StudioError
from vit_studio.engine.explain.faithfulness import AUC_NAMES, Curves, perturbation_curves
from vit_studio.engine.explain.methods import METHODS, check_methods, explain
from vit_studio.engine.images import ImageFileError, open_image, prepare_image
from vit_studio.engine.model import StudioModel

LOWER_IS_BETTER = frozenset({"positive_auc", "deletion_auc"})


@dataclass(frozen=True)
class FaithfulnessReport:
    """Mean AUCs per method (`{method: {auc name: mean}}`) over the images that could be read."""

    model: str
    images: int
    methods: dict[str, dict[str, float]]
    skipped: tuple[SkippedFile, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "images": self.images,
            "methods": self.methods,
            "skipped": [{"image": str(s.path), "reason": s.reason} for s in self.skipped],
        }


@dataclass(frozen=True)
class ImageScores:
    """Every method's curves for one image, against its unperturbed prediction."""

    predicted: int
    curves: dict[str, Curves]

    def best(self, auc: str) -> tuple[str, ...]:
        """The methods with the best value of `auc` (lowest for positive and deletion; ties
        are common on one image, whose top-1 curves move in steps)."""
        sign = -1.0 if auc in LOWER_IS_BETTER else 1.0
        values = {name: sign * curves.aucs()[auc] for name, curves in self.curves.items()}
        top = max(values.values())
        return tuple(name for name, value in values.items() if value == top)


def score_image(
    model: StudioModel,
    tensor: torch.Tensor,
    methods: Sequence[str] = METHODS,
    *,
    rng: np.random.Generator | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> ImageScores:
    """The maps of one normalised image `[3, H, W]` (one captured forward) and each method's
    curves (one batched forward each). `progress(done, total)` counts the methods scored;
    `cancel()` is polled between them and raises `Cancelled`."""
    methods = check_methods(methods)
    tensor = tensor.to(model.device)
    found = explain(model, tensor, methods, rng=rng)
    curves: dict[str, Curves] = {}
    for done, name in enumerate(methods):
        if cancel is not None and cancel():
            raise Cancelled(f"stopped after {done} of {len(methods)} methods")
        curves[name] = perturbation_curves(model.module, tensor, found.maps[name], found.predicted)
        if progress is not None:
            progress(done + 1, len(methods))
    return ImageScores(found.predicted, curves)


def evaluate_faithfulness(
    model: StudioModel,
    paths: Sequence[str | os.PathLike],
    methods: Sequence[str] = METHODS,
    *,
    seed: int = 0,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> FaithfulnessReport:
    """Explain each image's predicted class with every method and score the maps.

    Images that cannot be read are skipped (listed in the report); `seed` draws the random
    maps. `progress(done, total)` follows the images; `cancel()` is polled before each one and
    raises `Cancelled`. Raises `StudioError` when no image could be read.
    """
    methods = check_methods(methods)
    model.require_classifier("to score explanations of")
    rng = np.random.default_rng(seed)
    totals = {name: np.zeros(len(AUC_NAMES)) for name in methods}
    skipped: list[SkippedFile] = []
    scored = 0
    for done, path in enumerate(paths):
        if cancel is not None and cancel():
            raise Cancelled(f"stopped after {done} of {len(paths)} images")
        try:
            prepared = prepare_image(open_image(path), model.meta.preprocessing)
        except ImageFileError as exc:
            skipped.append(SkippedFile(Path(path), str(exc)))
            continue
        scores = score_image(model, prepared.tensor, methods, rng=rng)
        for name in methods:
            aucs = scores.curves[name].aucs()
            totals[name] += [aucs[key] for key in AUC_NAMES]
        scored += 1
        if progress is not None:
            progress(done + 1, len(paths))
    if not scored:
        raise StudioError(
            f"none of the {len(paths)} images could be read; the first: {skipped[0].reason}"
            if skipped
            else "no images to score; give a folder that holds image files"
        )
    means = {
        name: {key: float(value / scored) for key, value in zip(AUC_NAMES, total, strict=True)}
        for name, total in totals.items()
    }
    return FaithfulnessReport(model.meta.name, scored, means, tuple(skipped))
