"""Faithfulness of every attribution method over a set of images: the mean of each AUC, its
95 % bootstrap interval, and each method against random on the same images."""

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
from vit_studio.engine.explain.intervals import (
    CONFIDENCE,
    LOWER_IS_BETTER,
    RESAMPLES,
    Comparison,
    compare,
    mean_interval,
    resampled_images,
)
from vit_studio.engine.explain.methods import METHODS, check_methods, explain
from vit_studio.engine.images import ImageFileError, open_image, prepare_image
from vit_studio.engine.model import StudioModel

__all__ = ["LOWER_IS_BETTER", "FaithfulnessReport", "ImageScores", "evaluate_faithfulness"]
BASELINE = "random"


@dataclass(frozen=True)
class FaithfulnessReport:
    """Per method (in the order scored) and AUC: the mean over the images that could be read
    (`methods`), its `CONFIDENCE` bootstrap interval (`intervals`) and, when random was scored,
    the paired comparison with it (`versus_random`). `per_image[method]` is `[images, 4]`, the
    AUCs of each image in the order of `AUC_NAMES`; `start_layer` is transformer attribution's.
    """

    model: str
    images: int
    methods: dict[str, dict[str, float]]
    intervals: dict[str, dict[str, tuple[float, float]]]
    versus_random: dict[str, dict[str, Comparison]]
    per_image: dict[str, np.ndarray]
    start_layer: int = 0
    skipped: tuple[SkippedFile, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        methods: dict[str, dict[str, Any]] = {}
        for name, means in self.methods.items():
            entry: dict[str, Any] = {}
            for auc in AUC_NAMES:
                entry[auc] = means[auc]
                entry[f"{auc}_ci"] = list(self.intervals[name][auc])
                if name in self.versus_random:
                    entry[f"{auc}_vs_random"] = self.versus_random[name][auc].as_json()
            methods[name] = entry
        return {
            "model": self.model,
            "images": self.images,
            "start_layer": self.start_layer,
            "confidence": CONFIDENCE,
            "resamples": RESAMPLES,
            "methods": methods,
            "skipped": [{"image": str(s.path), "reason": s.reason} for s in self.skipped],
        }


def summarise(
    model: str,
    per_image: dict[str, np.ndarray],
    *,
    seed: int = 0,
    start_layer: int = 0,
    skipped: tuple[SkippedFile, ...] = (),
) -> FaithfulnessReport:
    """The report of per-image AUCs (`{method: [images, 4]}`, the same images in the same
    order for every method): means, intervals and comparisons with random, all from one set
    of bootstrap samples drawn with `seed`."""
    images = len(next(iter(per_image.values())))
    samples = resampled_images(images, np.random.default_rng(seed))
    means, intervals, versus = {}, {}, {}
    for name, values in per_image.items():
        means[name] = {auc: float(values[:, k].mean()) for k, auc in enumerate(AUC_NAMES)}
        intervals[name] = {
            auc: mean_interval(values[:, k], samples) for k, auc in enumerate(AUC_NAMES)
        }
        if BASELINE in per_image and name != BASELINE:
            baseline = per_image[BASELINE]
            versus[name] = {
                auc: compare(auc, values[:, k], baseline[:, k], samples)
                for k, auc in enumerate(AUC_NAMES)
            }
    return FaithfulnessReport(
        model, images, means, intervals, versus, per_image, start_layer, skipped
    )


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
    start_layer: int = 0,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> ImageScores:
    """The maps of one normalised image `[3, H, W]` (one captured forward, and AttnLRP's own)
    and each method's curves (one batched forward each). `progress(done, total)` counts the
    methods scored; `cancel()` is polled between them and raises `Cancelled`."""
    methods = check_methods(methods)
    tensor = tensor.to(model.device, model.module.class_token.dtype)
    found = explain(model, tensor, methods, rng=rng, start_layer=start_layer)
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
    start_layer: int = 0,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> FaithfulnessReport:
    """Explain each image's predicted class with every method and score the maps.

    Images that cannot be read are skipped (listed in the report); `seed` draws the random
    maps and the bootstrap samples; `start_layer` is transformer attribution's first layer.
    `progress(done, total)` follows the images; `cancel()` is polled before each one and
    raises `Cancelled`. Raises `StudioError` when no image could be read.
    """
    methods = check_methods(methods)
    model.require_classifier("to score explanations of")
    rng = np.random.default_rng(seed)
    rows: dict[str, list[list[float]]] = {name: [] for name in methods}
    skipped: list[SkippedFile] = []
    for done, path in enumerate(paths):
        if cancel is not None and cancel():
            raise Cancelled(f"stopped after {done} of {len(paths)} images")
        try:
            prepared = prepare_image(open_image(path), model.meta.preprocessing)
        except ImageFileError as exc:
            skipped.append(SkippedFile(Path(path), str(exc)))
            continue
        scores = score_image(model, prepared.tensor, methods, rng=rng, start_layer=start_layer)
        for name in methods:
            aucs = scores.curves[name].aucs()
            rows[name].append([aucs[key] for key in AUC_NAMES])
        if progress is not None:
            progress(done + 1, len(paths))
    if not rows[methods[0]]:
        raise StudioError(
            f"none of the {len(paths)} images could be read; the first: {skipped[0].reason}"
            if skipped
            else "no images to score; give a folder that holds image files"
        )
    per_image = {name: np.asarray(values, dtype=np.float64) for name, values in rows.items()}
    return summarise(
        model.meta.name, per_image, seed=seed, start_layer=start_layer, skipped=tuple(skipped)
    )
