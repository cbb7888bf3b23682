"""Where a fine-tune starts: the better head of two, both scored before the first step.

The new head either comes from the base model itself (its own rows for the folder's classes,
where every class folder is one of its classes: `adapt.prepare_finetune`) or is fitted to the
frozen features of the training images (a linear probe, LP-FT: Kumar et al. 2022). Both leave
the backbone as it was, so each is a model that has not been fine-tuned at all: "the base model
alone" and "a probe on its features". They are scored on the validation images; the probe
replaces the base model's own head only where it is clearly better there (`START_MARGIN_Z`, as
a fine-tuned epoch must be to replace the start), since a probe fitted to a few hundred images
that wins by an image or two on a hundred is noise (CIFAR 10 x 60 at 128 px: the probe 94.2 %
against the base's 93.3 % on validation, 87.8 % against 89.6 % on 500 test images). With the
loop keeping the best model by validation, epoch 0 included, the run keeps a fine-tuned model
only where fine-tuning beat both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vit_studio.engine.training.baseline import fit_logistic_regression
from vit_studio.engine.training.evaluation import beats
from vit_studio.engine.training.source import BatchSource

BASE_HEAD, PROBE_HEAD, NEW_HEAD = "base", "probe", "new"

# How clearly a model must beat the starting one on validation to replace it (the probe the
# base model's head, a fine-tuned epoch the start): McNemar's statistic over the images only one
# of the two gets right, in standard deviations.
START_MARGIN_Z = 1.0


# L2 of the linear probe, on its mean cross-entropy: a few hundred images must not be memorised.
PROBE_L2 = 1e-2


@torch.no_grad()
def head_inputs(module: nn.Module, source, prepare, batch_size: int) -> torch.Tensor:
    """What the head sees for every image of `source` (a `BatchSource`), in eval mode: [N, D]."""
    was_training = module.training
    module.eval()
    captured: list[torch.Tensor] = []
    hook = module.heads.head.register_forward_pre_hook(
        lambda _head, inputs: captured.append(inputs[0].float().cpu())
    )
    try:
        for start in range(0, len(source), batch_size):
            index = torch.arange(start, min(start + batch_size, len(source)),
                                 device=source.index_device)  # fmt: skip
            images, _labels = source.batch(index)
            module(prepare(images))
    finally:
        hook.remove()
        module.train(was_training)
    return torch.cat(captured)


@dataclass(frozen=True)
class StartingPoint:
    """The heads a fine-tune could start from, as scored on the validation images (None: not
    scored, for want of validation images or of a head of that kind)."""

    base_acc: float | None  # the base model's own head for the folder's classes
    probe_acc: float | None  # the linear probe on the frozen features
    chosen: str  # BASE_HEAD, PROBE_HEAD or NEW_HEAD (neither: no probe asked for)

    @property
    def start_acc(self) -> float | None:
        return self.base_acc if self.chosen == BASE_HEAD else self.probe_acc

    def describe(self) -> str:
        """One line for people: both controls and the choice."""
        parts = []
        if self.base_acc is not None:
            parts.append(f"the base model alone {self.base_acc:.1%}")
        if self.probe_acc is not None:
            parts.append(f"a probe on its frozen features {self.probe_acc:.1%}")
        scored = " and ".join(parts)
        chosen = {
            BASE_HEAD: "the base model's own head",
            PROBE_HEAD: "the probe's head",
            NEW_HEAD: "a new head (all zeros)",
        }[self.chosen]
        if not scored:
            return f"started from {chosen} (no validation images to score it)"
        why = ""
        if self.chosen == BASE_HEAD and (self.probe_acc or 0.0) > (self.base_acc or 0.0):
            why = " (the probe's lead is within the noise of so few images)"
        return (
            f"before fine-tuning, on the validation images: {scored}; started from {chosen}{why}"
        )

    def record(self) -> dict[str, float | str | None]:
        return {"base_acc": self.base_acc, "probe_acc": self.probe_acc, "chosen": self.chosen}


def choose_start(
    module: nn.Module,
    train: BatchSource,
    val: BatchSource | None,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int,
    *,
    has_base_head: bool,
    fit_probe: bool,
) -> StartingPoint:
    """Put the better starting head into `module.heads.head` (see the module) and say why.

    `has_base_head`: the head holds the base model's own rows for the folder's classes.
    `fit_probe`: a probe may be fitted (the run's `probe_head` setting).
    """
    head = module.heads.head
    if not fit_probe:
        if not has_base_head:
            return StartingPoint(None, None, NEW_HEAD)
        return StartingPoint(_score(module, val, prepare, batch_size), None, BASE_HEAD)
    features = head_inputs(module, train, prepare, batch_size)
    with torch.enable_grad():
        weight, bias = fit_logistic_regression(
            features, train.labels.cpu(), head.out_features, PROBE_L2
        )
    if val is None:
        if not has_base_head:
            _set_head(head, weight, bias)
        return StartingPoint(None, None, BASE_HEAD if has_base_head else PROBE_HEAD)
    val_features = head_inputs(module, val, prepare, batch_size)
    labels = val.labels.cpu()
    probe_right = _right(val_features @ weight.T + bias, labels)
    probe_acc = float(probe_right.mean())
    if has_base_head:
        base_right = _right(val_features @ head.weight.detach().cpu().T + head.bias.cpu(), labels)
        base_acc = float(base_right.mean())
        if not probe_replaces_base(probe_right, base_right):
            return StartingPoint(base_acc, probe_acc, BASE_HEAD)
    else:
        base_acc = None
    _set_head(head, weight, bias)
    return StartingPoint(base_acc, probe_acc, PROBE_HEAD)


def probe_replaces_base(probe_right: np.ndarray, base_right: np.ndarray) -> bool:
    """Whether a probe right on `probe_right` (bool per validation image) is clearly better than
    the base model's head, right on `base_right` (see the module)."""
    return beats(probe_right, base_right, START_MARGIN_Z)


def _right(scores: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    return (scores.argmax(1) == labels).numpy()


def _accuracy(scores: torch.Tensor, labels: torch.Tensor) -> float:
    return float(_right(scores, labels).mean())


def _score(
    module: nn.Module,
    val: BatchSource | None,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int,
) -> float | None:
    if val is None:
        return None
    head = module.heads.head
    features = head_inputs(module, val, prepare, batch_size)
    scores = features @ head.weight.detach().cpu().float().T + head.bias.detach().cpu().float()
    return _accuracy(scores, val.labels.cpu())


def _set_head(head: nn.Linear, weight: torch.Tensor, bias: torch.Tensor) -> None:
    with torch.no_grad():
        head.weight.copy_(weight.to(head.weight))
        head.bias.copy_(bias.to(head.bias))
