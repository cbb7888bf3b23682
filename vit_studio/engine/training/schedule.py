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


def param_groups(
    module: nn.Module, weight_decay: float, layer_decay: float = 1.0
) -> list[dict[str, Any]]:
    """The trainable parameters in groups by depth and decay, each with its `lr_scale`.

    Weight decay on weight matrices only; not on biases, norms, position embedding or token.
    With `layer_decay` < 1, depth d of D (0: embeddings, 1..L: the blocks, L + 1: final norm and
    head) learns at lr · layer_decay^(D - d).
    """
    layers = len(module.encoder.layers)
    groups: dict[tuple[int, bool], dict[str, Any]] = {}
    for name, parameter in module.named_parameters():
        if not parameter.requires_grad:
            continue
        no_decay = parameter.ndim <= 1 or name in ("class_token", "encoder.pos_embedding")
        depth = _depth(name, layers)
        group = groups.setdefault((depth, no_decay), {
            "params": [],
            "weight_decay": 0.0 if no_decay else weight_decay,
            "lr_scale": layer_decay ** (layers + 1 - depth),
        })  # fmt: skip
        group["params"].append(parameter)
    if not groups:
        raise StudioError("every parameter is frozen; use --freeze none, backbone or a number")
    return [groups[key] for key in sorted(groups)]


def _depth(name: str, layers: int) -> int:
    """0 for the embeddings, i + 1 for encoder block i, layers + 1 for the final norm and head."""
    if name.startswith("encoder.layers.encoder_layer_"):
        return int(name.split(".")[2].rsplit("_", 1)[1]) + 1
    if name in ("class_token", "encoder.pos_embedding") or name.startswith("conv_proj"):
        return 0
    return layers + 1


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
