"""Scoring a model on labelled images: accuracy, per-class accuracy, confusion, each image.

`evaluate` scores cached images; `evaluate_folder` is the whole `vit-studio evaluate` job: scan
a folder, match its class folders to the model's classes by name, load and score the images.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vit_studio.engine.augment import normalize_images
from vit_studio.engine.callbacks import Cancel, Progress, StageProgress
from vit_studio.engine.data import CachedImages, FolderScan, ImageItem, cache_images, scan_folder
from vit_studio.engine.device import resolve_device
from vit_studio.engine.errors import Cancelled, StudioError
from vit_studio.engine.model import StudioModel
from vit_studio.engine.training.class_match import match_class_names
from vit_studio.engine.training.precision import autocast_dtype
from vit_studio.engine.training.source import BatchSource, check_labels


@dataclass(frozen=True)
class Loss:
    """One image's cross-entropy, and what the model made of it."""

    index: int  # into the images scored
    true_class: int
    predicted: int
    probability: float  # of the predicted class
    true_probability: float  # of the true class
    loss: float  # -log(true_probability)

    @property
    def wrong(self) -> bool:
        return self.predicted != self.true_class


def mcnemar_z(only_first: int, only_second: int) -> float:
    """McNemar's statistic for two classifiers on the same images: how many more images only the
    first gets right than only the second, in standard deviations (0 when none differ)."""
    pairs = only_first + only_second
    return (only_first - only_second) / math.sqrt(pairs) if pairs else 0.0


def beats(right: np.ndarray, other_right: np.ndarray, z: float) -> bool:
    """Whether a classifier right on `right` (bool per image) is clearly better than one right on
    `other_right`, the same images: right on more of them, by a McNemar statistic of at least
    `z` (the images both get right or wrong say nothing about which is better)."""
    gained = int((right & ~other_right).sum())
    lost = int((~right & other_right).sum())
    return gained > lost and mcnemar_z(gained, lost) >= z


def top_losses(probabilities: np.ndarray, labels: np.ndarray, limit: int) -> tuple[Loss, ...]:
    """The `limit` images with the largest loss, largest first (fastai's top losses): the ones
    the model gets most wrong, or right with the least confidence. Ties keep image order."""
    true = probabilities[np.arange(len(labels)), labels].astype(np.float64)
    losses = -np.log(np.clip(true, 1e-12, None))
    order = np.argsort(-losses, kind="stable")[:limit]
    predicted = probabilities.argmax(1)
    return tuple(
        Loss(
            index=int(k),
            true_class=int(labels[k]),
            predicted=int(predicted[k]),
            probability=float(probabilities[k, predicted[k]]),
            true_probability=float(true[k]),
            loss=float(losses[k]),
        )
        for k in order
    )


@dataclass(frozen=True)
class EvalResult:
    """Per-image results of a model on labelled images, and the summaries derived from them."""

    class_names: tuple[str, ...]
    labels: np.ndarray  # [N] int64, true class per image
    probabilities: np.ndarray  # [N, C] float32 softmax outputs
    loss: float  # mean cross-entropy
    paths: tuple[Path, ...] = ()

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(1)

    @property
    def accuracy(self) -> float:
        """Top-1 accuracy in [0, 1]."""
        return float((self.predictions == self.labels).mean()) if len(self.labels) else 0.0

    @property
    def confusion(self) -> np.ndarray:
        """[C, C] counts: row = true class, column = predicted class."""
        size = len(self.class_names)
        flat = self.labels * size + self.predictions
        return np.bincount(flat, minlength=size * size).reshape(size, size)

    @property
    def support(self) -> np.ndarray:
        """Images per true class."""
        return np.bincount(self.labels, minlength=len(self.class_names))

    def top_losses(self, limit: int) -> tuple[Loss, ...]:
        """The images with the largest loss, largest first (see `top_losses`)."""
        return top_losses(self.probabilities, self.labels, limit)

    @property
    def per_class_accuracy(self) -> np.ndarray:
        """Accuracy per true class; NaN for a class without images."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / self.support

    def to_dict(self) -> dict[str, Any]:
        """JSON-able report: summaries plus every image's prediction."""
        predictions = self.predictions
        return {
            "images": len(self.labels),
            "accuracy": self.accuracy,
            "loss": self.loss,
            "class_names": list(self.class_names),
            "per_class": {
                name: {"accuracy": finite_or_none(acc), "images": int(n)}
                for name, acc, n in zip(
                    self.class_names, self.per_class_accuracy, self.support, strict=True
                )
            },
            "confusion": self.confusion.tolist(),
            "predictions": [
                {
                    "image": str(self.paths[k]) if self.paths else k,
                    "label": self.class_names[self.labels[k]],
                    "predicted": self.class_names[predictions[k]],
                    "probability": round(float(self.probabilities[k, predictions[k]]), 6),
                }
                for k in range(len(self.labels))
            ],
        }


def evaluate(
    model: StudioModel,
    cached: CachedImages,
    *,
    batch_size: int = 256,
    device: str | None = None,
    precision: str = "auto",
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> EvalResult:
    """Top-1, per-class accuracy, confusion and per-image probabilities of `model` on `cached`.

    Images should be cached at the model's `preprocessing.resize_size`: they are centre-cropped
    to the crop size, as the model's preprocessing does (other sizes are resized to the crop).
    `device` None keeps the model where it is. Labels must index `model.meta.class_names`.
    `cancel()` is polled before each batch; cancelling raises `Cancelled`.
    """
    target = model.device if device is None else resolve_device(device)
    model.to(target)
    check_labels(model, cached, "evaluation images")
    source = BatchSource(cached, target)
    pre = model.meta.preprocessing

    def prepare(images: torch.Tensor) -> torch.Tensor:
        size = images.shape[-1]
        if size == pre.resize_size and size > pre.crop_size:
            start = (size - pre.crop_size) // 2
            images = images[..., start : start + pre.crop_size, start : start + pre.crop_size]
        return normalize_images(images, pre.mean, pre.std, model.arch.image_size)

    amp_dtype = autocast_dtype(precision, target, training=False)
    logits, loss = predict(model.module, source, prepare, batch_size, amp_dtype, progress, cancel)
    return EvalResult(
        class_names=model.meta.class_names,
        labels=cached.labels.numpy(),
        probabilities=torch.softmax(logits, 1).numpy(),
        loss=loss,
        paths=tuple(cached.paths),
    )


@dataclass(frozen=True)
class FolderEvaluation:
    """A model scored on a folder: which images (`subset`) and how it did on them."""

    scan: FolderScan
    subset: str  # "val": only the folder's val/ images; "all": every image in its classes
    result: EvalResult

    def to_dict(self) -> dict[str, Any]:
        return {"folder": str(self.scan.root), "subset": self.subset} | self.result.to_dict()


def evaluate_folder(
    model: StudioModel,
    folder: str | Path,
    *,
    batch_size: int = 256,
    progress: StageProgress | None = None,
    cancel: Cancel | None = None,
) -> FolderEvaluation:
    """Score `model` on `folder`: only `val/` when the folder has a train/val layout, else every
    image. Class folders are matched to the model's class names by name."""
    if batch_size < 1:
        raise StudioError(f"batch size {batch_size}: use at least 1 (--batch-size)")
    model.require_classifier("to evaluate")
    scan = scan_folder(folder, val_share=0.0)
    items = items_for_model(scan, model)

    def stage(what: str) -> Progress | None:
        return None if progress is None else (lambda done, total: progress(what, done, total))

    cached = cache_images(
        items, model.meta.preprocessing.resize_size, root=scan.root,
        progress=stage("loading images"), cancel=cancel,
    )  # fmt: skip
    result = evaluate(
        model, cached, batch_size=batch_size, progress=stage("evaluating"), cancel=cancel
    )
    return FolderEvaluation(scan, "val" if scan.has_val_folder else "all", result)


def items_for_model(scan: FolderScan, model: StudioModel) -> list[ImageItem]:
    """The images to score, labelled with the model's class indices (matched by name, as
    `class_match` matches them: `cats` is `cat`)."""
    model_classes = model.meta.class_names
    matched = match_class_names(scan.class_names, model_classes)
    if matched is None:
        unknown = [
            name for name in scan.class_names if match_class_names((name,), model_classes) is None
        ]
        what = (
            f"class folders {', '.join(unknown)} are not classes of the model"
            if unknown
            else "two class folders name the same class of the model"
        )
        raise StudioError(
            f"{scan.root}: {what} ({', '.join(model_classes[:10])}...); rename or remove them"
        )
    items = scan.val if scan.has_val_folder else scan.train + scan.val
    return [ImageItem(item.path, matched[item.label]) for item in items]


@torch.no_grad()
def predict(
    module: nn.Module,
    source: BatchSource,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int,
    amp_dtype: torch.dtype | None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
) -> tuple[torch.Tensor, float]:
    """(float32 logits [N, C] on the CPU, mean cross-entropy) in eval mode; one sync at the end."""
    was_training = module.training
    module.eval()
    device = source.device
    chunks = []
    loss_sum = torch.zeros((), device=device)
    total = len(source)
    try:
        for start in range(0, total, batch_size):
            if cancel is not None and cancel():
                raise Cancelled
            index = torch.arange(start, min(start + batch_size, total), device=source.index_device)
            images, labels = source.batch(index)
            with torch.autocast(
                device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None
            ):
                logits = module(prepare(images)).float()
            loss_sum += F.cross_entropy(logits, labels, reduction="sum")
            chunks.append(logits)
            if progress is not None:
                progress(min(start + batch_size, total), total)
    finally:
        module.train(was_training)
    return torch.cat(chunks).cpu(), loss_sum.item() / max(total, 1)


def finite_or_none(value: float) -> float | None:
    """`value` as a float, or None for NaN and infinities (JSON has neither)."""
    return float(value) if math.isfinite(value) else None
