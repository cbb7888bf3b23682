"""What the fine-tune panel keeps of each epoch, computed on the training thread between epochs
(the kept values are `gui.state.finetune_results.EpochSnapshot`s).

The engine trains the model in place and calls `on_epoch` on its own thread once an epoch is
done, so at that moment the worker can look at the live model without copying it: it takes the
engine's per-image validation result of that epoch (only the epoch a resumed run starts from is
scored here, with the engine's precision and batch size so the confusion matrix matches the
reported accuracy), analyses one fixed validation image, and reads the position embeddings.
Everything kept is a small numpy array; nothing here imports Qt.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from vit_studio.engine.analysis import analyze
from vit_studio.engine.augment import normalize_images
from vit_studio.engine.data import CachedImages
from vit_studio.engine.images import PreparedImage
from vit_studio.engine.model import StudioModel
from vit_studio.engine.training import (
    EpochInfo,
    EvalResult,
    TrainConfig,
    autocast_dtype,
    evaluate,
)
from vit_studio.gui.state.finetune_results import EpochSnapshot, Probe, ValidationSet

THUMBNAIL_SIZE = 64  # pixels on a side, at most: enough to recognise an image in a cell list
_PRECISION_NAMES = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


def validation_set(class_names: tuple[str, ...], cached: CachedImages) -> ValidationSet:
    """Thumbnails of the cached validation images (antialiased, at most `THUMBNAIL_SIZE`)."""
    size = min(THUMBNAIL_SIZE, cached.images.shape[-1])
    thumbnails = []
    for chunk in cached.images.split(256):
        small = F.interpolate(
            chunk.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
        thumbnails.append(small.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1))
    return ValidationSet(
        class_names=class_names,
        thumbnails=torch.cat(thumbnails).numpy(),
        labels=cached.labels.numpy(),
        paths=tuple(cached.paths),
    )


def probe_image(
    cached: CachedImages, model: StudioModel, index: int = 0
) -> tuple[Probe, PreparedImage]:
    """Image `index` of `cached` as a probe, and as the model's input (the validation pixels)."""
    images = cached.images[index : index + 1]
    pre = model.meta.preprocessing
    tensor = normalize_images(images, pre.mean, pre.std, model.arch.image_size)[0]
    pixels = images[0].permute(1, 2, 0).numpy().copy()
    pixels.setflags(write=False)
    probe = Probe(path=cached.paths[index], label=int(cached.labels[index]), pixels=pixels)
    return probe, PreparedImage(pixels=pixels, tensor=tensor)


class SnapshotTaker:
    """Takes an `EpochSnapshot` of the model being trained; call it only between epochs."""

    def __init__(
        self,
        model: StudioModel,
        val: CachedImages | None,
        probe: PreparedImage,
        config: TrainConfig,
        train_images: int,
        cancel: Callable[[], bool],
    ) -> None:
        self._model = model
        self._val = val
        self._probe = probe
        self._cancel = cancel
        # The engine validates with 2 × its batch size in its training precision; the same
        # here gives the same predictions, so counts in the matrix match the reported accuracy.
        self._batch_size = 2 * min(config.batch_size, train_images)
        self._config = config

    def take(
        self, epoch: int, info: EpochInfo | None, validation: EvalResult | None = None
    ) -> EpochSnapshot:
        """`validation`: the engine's own result for this epoch (`TrainCallbacks.on_validated`;
        for epoch 0, the starting model's); without it, a validated epoch's images are scored
        here. Raises `Cancelled` when the run is cancelled meanwhile."""
        model = self._model
        module = model.module
        was_training = module.training
        probabilities = confusion = None
        try:
            validated = info is not None and info.val_acc is not None
            if validation is not None:
                probabilities, confusion = validation.probabilities, validation.confusion
            elif validated and self._val is not None:
                amp = autocast_dtype(self._config.precision, model.device)
                result = evaluate(
                    model,
                    self._val,
                    batch_size=self._batch_size,
                    precision=_PRECISION_NAMES[amp],
                    cancel=self._cancel,
                )
                probabilities, confusion = result.probabilities, result.confusion
            analysis = analyze(model, self._probe)
        finally:
            module.train(was_training)  # analyze leaves the module in eval mode
        return EpochSnapshot(
            epoch=epoch,
            info=info,
            probabilities=probabilities,
            confusion=confusion,
            pos_similarity=analysis.pos_similarity,
            rollout=analysis.rollout(),
            probe_probabilities=analysis.probs,
        )
