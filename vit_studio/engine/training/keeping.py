"""Which model a training run keeps, and when it has stopped making progress.

The kept model is the best epoch on validation: more accurate, or as accurate with a lower loss
(a few hundred validation images often tie on accuracy). A fine-tune's starting model, validated
before the first step as epoch 0, is replaced only by an epoch right on clearly more of the same
images (`START_MARGIN_Z`): a folder the base model already knows is seldom improved by a few
hundred images, and a change of an image or two is noise.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from vit_studio.engine.training.evaluation import EvalResult, beats
from vit_studio.engine.training.progress import EpochInfo
from vit_studio.engine.training.start import START_MARGIN_Z


class KeptModel:
    """The validation record of the model a run keeps (all None until one is kept)."""

    def __init__(self) -> None:
        self.acc: float | None = None
        self.loss: float | None = None  # of the kept epoch: breaks ties of accuracy
        self.epoch: int | None = None  # 0: the starting model
        # Which validation images the starting model gets right, once it is kept.
        self.start_right: np.ndarray | None = None

    def keep_start(self, result: EvalResult) -> None:
        self.take(result, 0)
        self.start_right = result.predictions == result.labels

    def take(self, result: EvalResult, epoch: int) -> None:
        self.acc, self.loss, self.epoch = result.accuracy, result.loss, epoch

    def is_beaten_by(self, result: EvalResult) -> bool:
        """Whether `result` replaces the kept model (see the module)."""
        if self.start_right is not None:
            right = result.predictions == result.labels
            if not beats(right, self.start_right, START_MARGIN_Z):
                return False
        if self.acc is None or result.accuracy > self.acc:
            return True
        # A tie with the starting model keeps it: a lower loss alone is no reason to fine-tune.
        tie_broken = self.epoch != 0 and self.loss is not None and result.loss < self.loss
        return result.accuracy == self.acc and tie_broken

    def describe(self) -> str:
        return "the starting model" if self.epoch == 0 else f"epoch {self.epoch}"

    def checkpoint_state(self) -> dict[str, Any]:
        """What a checkpoint records of it, under `save_checkpoint`'s names."""
        return {
            "best_val_acc": self.acc,
            "best_val_loss": self.loss,
            "best_epoch": self.epoch,
            "start_right": None if self.start_right is None else self.start_right.tolist(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """From a checkpoint's state (older checkpoints lack the loss and the start)."""
        self.acc, self.epoch = state["best_val_acc"], state["best_epoch"]
        self.loss = state.get("best_val_loss")
        start_right = state.get("start_right")
        self.start_right = None if start_right is None else np.array(start_right, dtype=bool)


def last_progress(history: Iterable[EpochInfo]) -> int:
    """The last epoch whose validation beat every epoch before it (more accurate, or as accurate
    with a lower loss): the fine-tune's own progress, not the kept model, whose patience counts
    from it. A fine-tune's first epochs often score below its starting model before they
    overtake it."""
    best: tuple[float, float] | None = None
    last = 0
    for info in history:
        if info.val_acc is None or info.val_loss is None:
            continue
        score = (info.val_acc, -info.val_loss)
        if best is None or score > best:
            best, last = score, info.epoch
    return last
