"""What the fine-tune thread hands the panel: a folder's scan, a run's start, each epoch's
snapshot. Plain data (numpy arrays, engine dataclasses), no Qt."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the engine's training modules import torch; these are plain data
    from vit_studio.engine.data import FolderScan, SkippedFile
    from vit_studio.engine.training import EpochInfo, TrainConfig, TrainPaths


@dataclass(frozen=True)
class ScanResult:
    """A folder's scan report, or the problem that blocks training on it (one line, with fix)
    and, where the folder could be read, what it holds all the same."""

    folder: Path
    scan: FolderScan | None  # None: training on the folder is blocked by `problem`
    problem: str | None = None
    found: FolderScan | None = None  # a blocked folder's classes, counts and skipped files
    short_classes: tuple[str, ...] = ()  # the blocked folder's classes with too few images


@dataclass(frozen=True)
class RunStarted:
    """Everything the panel needs before the first step."""

    scan: FolderScan
    config: TrainConfig
    paths: TrainPaths
    class_names: tuple[str, ...]
    train_images: int
    validation: ValidationSet | None
    probe: Probe
    history: tuple[EpochInfo, ...]  # epochs a resumed run has already done
    skipped: tuple[SkippedFile, ...]  # files that no longer decode since the scan
    command: str  # the CLI command that makes the same run
    pixel_baseline: float | None  # validation accuracy from the raw pixels alone
    base_model: Path | None = None  # the model a fine-tune started from
    # "settings: …" and why each setting left to the data has its value, what was measured on
    # the folder included (the CLI prints the same lines); empty for a resumed run.
    explanation: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidationSet:
    """The validation images as the panel shows them, in the engine's order."""

    class_names: tuple[str, ...]
    thumbnails: np.ndarray  # [N, t, t, 3] uint8
    labels: np.ndarray  # [N] int64
    paths: tuple[Path, ...]

    def members(self, true_class: int, predictions: np.ndarray, predicted: int) -> np.ndarray:
        """Indices of the images of `true_class` that were predicted as `predicted`."""
        return np.flatnonzero((self.labels == true_class) & (predictions == predicted))


@dataclass(frozen=True)
class Probe:
    """The fixed validation image whose attention rollout is kept every epoch."""

    path: Path
    label: int
    pixels: np.ndarray  # [S, S, 3] uint8, as the model sees it


@dataclass(frozen=True, eq=False)
class EpochSnapshot:
    """The model after one epoch (epoch 0: the prepared model before any training)."""

    epoch: int
    info: EpochInfo | None  # None for epoch 0
    probabilities: np.ndarray | None  # [N, C] on the validation images; None: not validated
    confusion: np.ndarray | None  # [C, C] counts, rows = true class, columns = predicted
    pos_similarity: np.ndarray  # [g, g, g, g]
    rollout: np.ndarray  # [g, g], attention rollout of the probe, max 1
    probe_probabilities: np.ndarray  # [C]

    @property
    def predictions(self) -> np.ndarray | None:
        return None if self.probabilities is None else self.probabilities.argmax(1)


def same_images(before: RunStarted | None, now: RunStarted) -> bool:
    """Whether two runs validate on the same images and follow the same probe image."""
    if before is None or before.class_names != now.class_names:
        return False
    a, b = before.validation, now.validation
    same_validation = (a is None and b is None) or (
        a is not None
        and b is not None
        and a.paths == b.paths
        and np.array_equal(a.labels, b.labels)
    )
    probe, again = before.probe, now.probe
    return (
        same_validation and probe.path == again.path and np.array_equal(probe.pixels, again.pixels)
    )
