"""What a run reports while it goes (steps, epochs), where it writes, and how it ended."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from enum import Enum
from pathlib import Path
from typing import Any

from vit_studio.engine.training.evaluation import EvalResult
from vit_studio.engine.training.start import StartingPoint

CHECKPOINT_SUFFIX = ".checkpoint.pt"


@dataclass(frozen=True)
class StepInfo:
    """Progress every `log_every` steps (or every few seconds); loss and acc over that window.

    With Mixup/CutMix `acc` counts agreement with each sample's dominant label.
    """

    epoch: int  # 1-based
    epochs: int
    step: int  # 1-based within the epoch
    steps_per_epoch: int
    loss: float
    acc: float
    lr: float
    images_per_s: float
    eta_s: float


@dataclass(frozen=True)
class EpochInfo:
    """One finished epoch. Validation fields are None on epochs without validation."""

    epoch: int
    epochs: int
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    val_class_acc: tuple[float | None, ...] | None  # None for a class without validation images
    lr: float
    seconds: float
    images_per_s: float
    best: bool  # this epoch's model is the one saved
    confusion: tuple[tuple[int, ...], ...] | None = None  # this epoch's only: not kept in history

    def record(self) -> dict[str, Any]:
        """The JSON-able form kept in history, checkpoints and the metrics file."""
        values = asdict(self)
        values.pop("confusion")
        return values

    @classmethod
    def from_record(cls, values: dict[str, Any]) -> EpochInfo:
        known = {f.name for f in fields(cls)}
        clean = {k: v for k, v in values.items() if k in known}
        if clean.get("val_class_acc") is not None:
            clean["val_class_acc"] = tuple(clean["val_class_acc"])
        return cls(**clean)


@dataclass
class TrainCallbacks:
    """Plain callables the loop calls on its own thread (the GUI adapts them into signals)."""

    on_step: Callable[[StepInfo], None] | None = None
    # Every image's validation result, just before `on_epoch` of the epochs that validate: a
    # caller that shows per-image results need not score the validation images again.
    on_validated: Callable[[EvalResult], None] | None = None
    on_epoch: Callable[[EpochInfo], None] | None = None
    on_note: Callable[[str], None] | None = None  # one-line events: resumed, budget reached...
    # A new run's starting point, once set (and, with `keep_start`, validated: `on_validated`
    # came just before); None for a run from scratch. Not called for a resumed run.
    on_start: Callable[[StartingPoint | None], None] | None = None


@dataclass(frozen=True)
class TrainPaths:
    """Where a run writes: the model, its resumable checkpoint and the metrics history."""

    model: Path
    checkpoint: Path
    metrics: Path

    @classmethod
    def of_checkpoint(cls, checkpoint: str | os.PathLike) -> TrainPaths:
        """The paths of the run whose checkpoint is M.checkpoint.pt (inverse of `beside`)."""
        checkpoint = Path(checkpoint)
        name = checkpoint.name
        suffix = CHECKPOINT_SUFFIX if name.endswith(CHECKPOINT_SUFFIX) else checkpoint.suffix
        stem = name.removesuffix(suffix)
        return cls.beside(checkpoint.with_name(f"{stem}.safetensors"))

    @classmethod
    def beside(cls, model: str | os.PathLike) -> TrainPaths:
        """M.safetensors -> M.checkpoint.pt and M.metrics.jsonl in the same folder."""
        model = Path(model)
        return cls(
            model=model,
            checkpoint=model.with_name(f"{model.stem}{CHECKPOINT_SUFFIX}"),
            metrics=model.with_name(f"{model.stem}.metrics.jsonl"),
        )


class RunStatus(str, Enum):
    """How a run ended: it ran all its epochs, was cancelled, or stopped at its time budget."""

    COMPLETED = "completed"
    CANCELLED = "cancelled"
    TIME_BUDGET = "time budget"
    EARLY_STOPPED = "early stop"  # validation stopped improving (the `patience` setting)

    def __str__(self) -> str:
        return self.value

    @property
    def outcome(self) -> str:
        """How it ended, as a phrase: "Run completed", "Run stopped at its time budget"."""
        if self is RunStatus.TIME_BUDGET:
            return "stopped at its time budget"
        if self is RunStatus.EARLY_STOPPED:
            return "stopped early"
        return self.value


@dataclass(frozen=True)
class TrainResult:
    """How a run ended, what it kept, and how long it took (`seconds`: the whole run's wall
    time, the sessions before a resume included)."""

    status: RunStatus
    epochs_completed: int
    best_val_acc: float | None
    best_epoch: int | None
    history: tuple[EpochInfo, ...]
    paths: TrainPaths | None
    seconds: float
    start: StartingPoint | None = None  # a fine-tune's starting point (see `training.start`)
