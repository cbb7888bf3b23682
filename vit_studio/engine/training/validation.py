"""Validation during a run: the unaugmented inputs, and every validation image's result.

One process predicts every image. Several processes (torchrun) each predict their contiguous
part of the images and gather the logits, so validation takes a world_size-th of the time and
every rank holds the same full result (the best-model choice and the history agree without
further messages); the loss is then computed once from the gathered logits.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vit_studio.engine.augment import normalize_images
from vit_studio.engine.model import StudioModel
from vit_studio.engine.training.distributed import Group, logits_in_shards
from vit_studio.engine.training.evaluation import EvalResult, predict
from vit_studio.engine.training.source import BatchSource


def plain_inputs(model: StudioModel) -> Callable[[torch.Tensor], torch.Tensor]:
    """uint8 images -> the model's input without augmentation (normalised, at its size)."""
    pre = model.meta.preprocessing
    size = model.arch.image_size
    return lambda images: normalize_images(images, pre.mean, pre.std, size)


def validate(
    model: StudioModel,
    module: nn.Module,
    source: BatchSource,
    labels: np.ndarray,
    batch_size: int,
    amp_dtype: torch.dtype | None,
    group: Group,
) -> EvalResult:
    """`module` (the weights of `model`, being trained) on every image of `source`."""
    prepare = plain_inputs(model)
    if group.distributed:
        logits = logits_in_shards(
            group,
            source,
            lambda shard: predict(module, shard, prepare, batch_size, amp_dtype)[0],
            model.arch.num_classes,
        )
        loss = F.cross_entropy(logits, torch.from_numpy(labels)).item()
    else:
        logits, loss = predict(module, source, prepare, batch_size, amp_dtype)
    return EvalResult(
        class_names=model.meta.class_names,
        labels=labels,
        probabilities=torch.softmax(logits, 1).numpy(),
        loss=loss,
    )
