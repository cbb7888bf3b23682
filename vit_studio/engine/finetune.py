"""Fine-tuning on an image folder, the one way both `vit-studio finetune` and the GUI do it.

Both front ends scan with the same split seed (`scan_training_folder`), fill in the settings the
user left open from the data (`plan_finetune`), prepare the model and cache the images
(`prepare_inputs`, or `resume_inputs` for a checkpoint) and hand the result to `training.train`
with the plan's config. The same folder, base model, seed and settings therefore give the same
model bit for bit, whichever front end ran it.

The defaults aim at a few minutes on a laptop CPU for a folder of a few hundred images: about
`TARGET_STEPS` optimiser steps in all, a batch of about a tenth of the images, and less of the
network trained the fewer images the smallest class has.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from vit_studio.engine.augment import AugmentConfig
from vit_studio.engine.data import CachedImages, Cancel, FolderScan, cache_images, scan_folder
from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import StudioModel, ViTArch, with_meta
from vit_studio.engine.training import TrainCheckpoint, TrainConfig, default_lr, prepare_finetune

SPLIT_SEED = 0  # the validation split is fixed per folder; the training seed varies only training
DEFAULT_VAL_SHARE = 0.2
DEFAULT_AUGMENT = "light"
TARGET_STEPS = 300
EPOCH_RANGE = (3, 50)
BATCH_RANGE = (8, 64)
# Training images in the smallest class below which less of the network trains.
HEAD_ONLY_BELOW = 20
PARTIAL_BELOW = 200

StageProgress = Callable[[str, int, int], None]  # (what is being done, done, total)


def scan_training_folder(
    folder: str | os.PathLike,
    val_share: float | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: Cancel | None = None,
) -> FolderScan:
    """`data.scan_folder` with the split every run uses (`SPLIT_SEED`, default val share)."""
    share = DEFAULT_VAL_SHARE if val_share is None else val_share
    return scan_folder(folder, val_share=share, seed=SPLIT_SEED, progress=progress, cancel=cancel)


@dataclass(frozen=True)
class FinetunePlan:
    """The settings a fine-tune runs with, and why each one left to us has its value."""

    config: TrainConfig
    image_size: int
    # Setting ("image_size" or a TrainConfig field) -> the rule behind its default; settings the
    # user chose have no entry.
    reasons: Mapping[str, str]

    def describe(self) -> str:
        """One line for people: what trains, how long, how fast."""
        config = self.config
        return (
            f"{config.epochs} epochs, batches of {config.batch_size}, learning rate "
            f"{config.lr:.3g}, {freeze_text(config.freeze)}, {self.image_size} px, seed "
            f"{config.seed}"
        )


def freeze_text(freeze: str) -> str:
    """What a `TrainConfig.freeze` value trains, in words."""
    if freeze == "none":
        return "every layer trains"
    if freeze == "backbone":
        return "only the new head trains"
    return f"the last {freeze} blocks and the head train"


def default_batch_size(train_images: int) -> int:
    """A power of two near a tenth of the training images, within `BATCH_RANGE`."""
    tenth = max(1.0, train_images / 10)
    return max(BATCH_RANGE[0], min(BATCH_RANGE[1], 2 ** math.floor(math.log2(tenth))))


def default_epochs(train_images: int, batch_size: int) -> int:
    """Enough epochs for about `TARGET_STEPS` steps (the loop drops each epoch's last partial
    batch), within `EPOCH_RANGE`."""
    steps = max(1, train_images // min(batch_size, train_images))
    return max(EPOCH_RANGE[0], min(EPOCH_RANGE[1], round(TARGET_STEPS / steps)))


def default_freeze(smallest_class: int, num_layers: int) -> str:
    """Train less of the network the fewer images the smallest class has (see the module)."""
    if smallest_class < HEAD_ONLY_BELOW:
        return "backbone"
    if smallest_class < PARTIAL_BELOW:
        return str(max(1, num_layers // 2))
    return "none"


def plan_finetune(
    scan: FolderScan, base_arch: ViTArch, *, image_size: int | None = None, **settings: Any
) -> FinetunePlan:
    """The run's settings: `settings` (TrainConfig fields the user chose) plus defaults from the
    data for every field left out. The learning rate follows the batch size and what trains,
    the warmup the epochs, whether those were chosen or derived."""
    images = len(scan.train)
    smallest = min(train for train, _val in scan.class_counts().values())
    reasons: dict[str, str] = {}
    chosen = dict(settings)

    def pick(name: str, value: Any, reason: str) -> Any:
        if name in chosen:
            return chosen[name]
        reasons[name] = reason
        chosen[name] = value
        return value

    size = image_size if image_size is not None else base_arch.image_size
    if image_size is None:
        reasons["image_size"] = (
            f"the base model's input size ({size} px): its position embeddings fit it as they are"
        )
    batch = pick(
        "batch_size",
        default_batch_size(images),
        f"about a tenth of the {images} training images, as a power of two from "
        f"{BATCH_RANGE[0]} to {BATCH_RANGE[1]}: enough steps per epoch for a small folder; a "
        "CPU gains little from larger batches",
    )
    steps = max(1, images // min(batch, images))
    epochs = pick(
        "epochs",
        default_epochs(images, batch),
        f"about {TARGET_STEPS} steps in all ({steps} per epoch), from {EPOCH_RANGE[0]} to "
        f"{EPOCH_RANGE[1]} epochs: enough to fit the new head and adapt the last blocks, few "
        "enough for minutes on a CPU",
    )
    freeze = pick(
        "freeze",
        default_freeze(smallest, base_arch.num_layers),
        f"the smallest class has {smallest} training images: under {HEAD_ONLY_BELOW} only the "
        f"new head trains, under {PARTIAL_BELOW} the last half of the blocks train too, beyond "
        "that everything does; freezing early layers keeps their general features and is faster",
    )
    pick(
        "lr",
        default_lr(batch, finetune=freeze == "none"),
        "1e-4 × batch/128 when every layer trains (small steps keep what the base model "
        "learned), 5e-4 × batch/128 when part is frozen (mostly the new head learns)",
    )
    pick(
        "warmup_epochs",
        min(10.0, round(epochs * 0.05, 2)),
        "5% of the epochs (at most 10): the new head's first large gradients do not shake the "
        "pre-trained layers",
    )
    pick(
        "augment",
        AugmentConfig.preset(DEFAULT_AUGMENT),
        "random crops and flips: they help a small folder without hiding what the images show",
    )
    return FinetunePlan(
        config=TrainConfig(**chosen), image_size=size, reasons=MappingProxyType(reasons)
    )


@dataclass(frozen=True)
class FinetuneInputs:
    """What `training.train` needs for a fine-tune: the model to train and the cached images."""

    model: StudioModel
    train: CachedImages
    val: CachedImages | None
    data: dict[str, Any]  # how the images were chosen, kept in the run's provenance


def cache_split(
    scan: FolderScan,
    size: int,
    *,
    progress: StageProgress | None = None,
    cancel: Cancel | None = None,
) -> tuple[CachedImages, CachedImages | None]:
    """The scan's training and validation images decoded at `size` (None: no validation)."""
    caches: list[CachedImages | None] = []
    for name, items in (("training", scan.train), ("validation", scan.val)):
        if not items:
            caches.append(None)
            continue
        what = f"loading {name} images at {size} px"
        report = None if progress is None else (lambda d, t, w=what: progress(w, d, t))
        caches.append(cache_images(items, size, progress=report, cancel=cancel))
    assert caches[0] is not None  # scan_folder guarantees training images in every class
    return caches[0], caches[1]


def prepare_inputs(
    base: StudioModel,
    scan: FolderScan,
    plan: FinetunePlan,
    *,
    val_share: float,
    base_path: str | os.PathLike,
    name: str | None = None,
    progress: StageProgress | None = None,
    cancel: Cancel | None = None,
) -> FinetuneInputs:
    """A copy of `base` with a new head for the scan's classes, and the images at its size.

    `name` names the new model (default: the base model's name), e.g. after its output file.
    """
    model = prepare_finetune(base, scan.class_names, image_size=plan.image_size)
    if name is not None:
        model = with_meta(model, name=name)
    train, val = cache_split(scan, model.arch.image_size, progress=progress, cancel=cancel)
    data = {"val_share": val_share, "split_seed": SPLIT_SEED, "base_model": str(base_path)}
    return FinetuneInputs(model=model, train=train, val=val, data=data)


def resume_inputs(
    checkpoint: TrainCheckpoint,
    scan: FolderScan,
    *,
    progress: StageProgress | None = None,
    cancel: Cancel | None = None,
) -> FinetuneInputs:
    """The checkpoint's model and the scan's images, checked to be the run's classes."""
    model = checkpoint.model()
    if scan.class_names != model.meta.class_names:
        raise StudioError(
            f"{scan.root}: its classes ({', '.join(scan.class_names)}) are not the ones the run "
            f"was trained on ({', '.join(model.meta.class_names)}); resume on the same folder"
        )
    train, val = cache_split(scan, model.arch.image_size, progress=progress, cancel=cancel)
    data = dict(checkpoint.provenance.get("data", {}))
    return FinetuneInputs(model=model, train=train, val=val, data=data)


def checkpoint_val_share(checkpoint: TrainCheckpoint) -> float:
    """The validation share the checkpoint's run split its folder with."""
    return float(checkpoint.provenance.get("data", {}).get("val_share", DEFAULT_VAL_SHARE))
