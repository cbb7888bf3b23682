"""The numbers of a run's schedule: learning rate per step, weight-decay groups, per-epoch
seeds, and how many epochs fit a time budget."""

from __future__ import annotations

import math
from typing import Any

from torch import nn

from vit_studio.engine.errors import StudioError
from vit_studio.engine.training.config import TrainConfig

# `fit_epochs` times this many epochs of a session before it plans the rest; the first one is
# left out of the timing because it pays for torch.compile and the GPU warming up.
FIT_TIMED_EPOCHS = 2
# The share of the time left that a fitted plan uses: the last epoch must not be the one that
# the budget stops.
_FIT_MARGIN = 0.97


def lr_at(step: int, config: TrainConfig, total_steps: int, warmup_steps: int) -> float:
    """Linear warmup to the peak over `warmup_steps`, then cosine down to `min_lr`."""
    if step < warmup_steps:
        return config.lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return config.min_lr + (config.lr - config.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def param_groups(module: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weight matrices only; not on biases, norms, position embedding or token."""
    decay, no_decay = [], []
    for name, parameter in module.named_parameters():
        if not parameter.requires_grad:
            continue
        if parameter.ndim <= 1 or name in ("class_token", "encoder.pos_embedding"):
            no_decay.append(parameter)
        else:
            decay.append(parameter)
    if not decay and not no_decay:
        raise StudioError("every parameter is frozen; use --freeze none, backbone or a number")
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return [group for group in groups if group["params"]]


def epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """A distinct seed per run seed, epoch and random stream (0: sample order, 1: augmentation)."""
    return (seed * 100_003 + epoch) * 2 + stream


def fitted_epochs(
    planned: int, done: int, epoch_seconds: float, seconds_left: float, *, first_plan: bool
) -> int | None:
    """The epochs that fit the time left, if fewer than `planned`; None when the plan stands.

    The first plan is made as soon as the epochs are timed; after it, the plan is only cut again
    when epochs have slowed so much that it would overrun (re-planning with the margin every
    epoch would shave an epoch off each time). Epochs are never added.
    """
    if not first_plan and (planned - done) * epoch_seconds <= seconds_left:
        return None
    fits = done + max(1, math.floor(_FIT_MARGIN * seconds_left / epoch_seconds))
    return fits if fits < planned else None
