"""The settings a run trains with: what the user chose, and for the rest, defaults and why.

`plan_finetune` derives what is left open from the folder and the base model, `plan_train` gives
the from-scratch defaults; both keep every value the user chose and say, for each value they
chose themselves, the rule behind it (`RunPlan.reasons`). The learning rate follows the batch
size and what trains, the warmup the epochs, whether those were chosen or derived.

The fine-tune defaults aim at a few minutes on a laptop CPU for a folder of a few hundred images,
and at beating a linear model of the raw pixels clearly even on images unlike the base model's
(`benchmarks/bench_finetune.py` measures both): the new head is first fitted to the frozen
features (a linear probe), then every layer trains, the early ones slowest (layer-wise
learning-rate decay), for about `TARGET_STEPS` steps in batches of about a tenth of the images.
With fewer than `FULL_FROM` images in the smallest class only the head trains: a few images
cannot re-tune a network without forgetting what it knew. Derived epochs come with a time budget
(`BUDGET_SECONDS_PER_IMAGE`, the five minutes per 600 images this aims at): a computer slower than
the one that set the defaults, or the GUI's worker that leaves a core to the window, trains fewer
epochs instead of longer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from vit_studio.engine.augment import FLIP_AUTO, FLIP_OFF, FLIP_ON, AugmentConfig
from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import ViTArch
from vit_studio.engine.training.config import TrainConfig
from vit_studio.engine.training.presets import default_lr
from vit_studio.engine.training.settings import (
    FINETUNE,
    LEARNING,
    RUNTIME,
    TRAIN,
    setting,
    settings_for,
)

if TYPE_CHECKING:
    from vit_studio.engine.data import FolderScan
    from vit_studio.engine.training.mirror_test import MirrorTest

SPLIT_SEED = 0  # the validation split is fixed per folder; the training seed varies only training
DEFAULT_VAL_SHARE = 0.2
DEFAULT_AUGMENT = {TRAIN: "strong", FINETUNE: "gentle"}
TRAIN_EPOCHS = 100
TRAIN_BATCH = 128
TARGET_STEPS = 400
EPOCH_RANGE = (3, 60)
BATCH_RANGE = (8, 64)
FULL_FROM = 10  # training images in the smallest class from which every layer trains
LAYER_DECAY = 0.75  # each block learns at this fraction of the rate of the one above it
# Peak learning rates per 128 images: every layer training (the head's; the layers below learn
# less by the layer decay), or the head alone.
FINETUNE_LR, HEAD_LR = 1e-3, 5e-4
# The time budget of derived epochs: 600 images in 5 min; small folders get the 5 min too.
BUDGET_SECONDS_PER_IMAGE, MIN_BUDGET_MINUTES = 0.5, 5.0
# Patience of a fine-tune: this share of its epochs without a better validation, at least the
# minimum (tiny folders validate on a few images, whose accuracy jumps about).
PATIENCE_SHARE, MIN_PATIENCE = 0.25, 5
# Settings that go into TrainConfig other than one for one.
_AUGMENT_SETTINGS = ("augment", "mixup", "cutmix", "flip")
# The hflip of a flip setting; auto keeps the preset's until the folder is measured.
_MIRROR = {FLIP_ON: 0.5, FLIP_OFF: 0.0}


@dataclass(frozen=True)
class RunPlan:
    """The settings a run trains with, and why each one left to us has its value."""

    command: str  # "train" or "finetune"
    config: TrainConfig
    image_size: int
    val_share: float
    # Setting name -> the rule behind its value; settings the user chose have no entry.
    reasons: Mapping[str, str]

    def describe(self) -> str:
        """One line for people: what trains, how long, how fast."""
        config = self.config
        what = f", {freeze_text(config.freeze)}" if self.command == FINETUNE else ""
        return (
            f"{config.epochs} epochs, batches of {config.batch_size}, learning rate "
            f"{config.lr:.3g}{what}, {self.image_size} px, seed {config.seed}"
        )

    def explain(self) -> list[str]:
        """"settings: …" and a line per setting left to us, saying why it has its value."""
        lines = [f"settings: {self.describe()}"]
        for entry in settings_for(self.command):
            if entry.name in self.reasons:
                lines.append(f"  {entry.name}: {self.reasons[entry.name]}")
        return lines

    def values(self) -> dict[str, Any]:
        """Every setting of the run by name, as the user would give it (`settings` values): its
        learning settings and its time budget, which derived epochs come with."""
        config = self.config
        values = config_values(self.command, config) | {
            "val_share": self.val_share,
            "max_minutes": config.max_minutes,
            "fit_epochs": config.fit_epochs,
        }
        if self.command == FINETUNE:
            values["image_size"] = self.image_size
        return values


def freeze_text(freeze: str) -> str:
    """What a `TrainConfig.freeze` value trains, in words."""
    if freeze == "none":
        return "every layer trains"
    if freeze == "backbone":
        return "only the new head trains"
    return f"the last {freeze} blocks and the head train"


def config_values(command: str, config: TrainConfig) -> dict[str, Any]:
    """The learning settings of `command` that `config` holds, by setting name (the inverse of
    `config_fields`)."""
    values = {
        entry.name: getattr(config, entry.target)
        for entry in settings_for(command, LEARNING)
        if entry.name not in (*_AUGMENT_SETTINGS, "grad_clip")
    }
    return values | {
        "augment": config.augment.preset_name() or DEFAULT_AUGMENT[command],
        "flip": config.flip or (FLIP_ON if config.augment.hflip else FLIP_OFF),
        "mixup": config.augment.mixup_alpha,
        "cutmix": config.augment.cutmix_alpha,
        "grad_clip": config.grad_clip or 0.0,
        "patience": config.patience or 0,
    }


def config_fields(command: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The `TrainConfig` fields that the learning and runtime settings in `values` set.

    Augmentation is a preset (`augment`, default the command's) whose Mixup, CutMix and
    mirroring are replaced where given (`flip` auto keeps the preset's mirroring until the run
    measures the folder: `resolve_flip`); a gradient clip or a patience of 0 means none.
    """
    fields: dict[str, Any] = {}
    for entry in settings_for(command, LEARNING, RUNTIME):
        if entry.name in values and entry.name not in _AUGMENT_SETTINGS:
            fields[entry.target] = values[entry.name]
    for name in ("grad_clip", "patience"):
        if name in fields:
            fields[name] = fields[name] or None
    if any(name in values for name in _AUGMENT_SETTINGS):
        augment = AugmentConfig.preset(values.get("augment", DEFAULT_AUGMENT[command]))
        changed = {
            field: values[name]
            for name, field in (("mixup", "mixup_alpha"), ("cutmix", "cutmix_alpha"))
            if name in values
        }
        flip = values.get("flip")
        if flip in _MIRROR:
            changed["hflip"] = _MIRROR[flip]
        fields["augment"] = replace(augment, **changed)
        fields["flip"] = flip
    return fields


def default_batch_size(train_images: int) -> int:
    """A power of two near a tenth of the training images, within `BATCH_RANGE`."""
    tenth = max(1.0, train_images / 10)
    return max(BATCH_RANGE[0], min(BATCH_RANGE[1], 2 ** math.floor(math.log2(tenth))))


def default_epochs(train_images: int, batch_size: int) -> int:
    """Enough epochs for about `TARGET_STEPS` steps (the loop drops each epoch's last partial
    batch), within `EPOCH_RANGE`."""
    steps = max(1, train_images // min(batch_size, train_images))
    return max(EPOCH_RANGE[0], min(EPOCH_RANGE[1], round(TARGET_STEPS / steps)))


def default_freeze(smallest_class: int) -> str:
    """Every layer trains, unless the smallest class is too small for it (see the module)."""
    return "backbone" if smallest_class < FULL_FROM else "none"


def finetune_lr(batch_size: int, freeze: str) -> float:
    """Peak learning rate of a fine-tune: linear in the batch, smaller when every layer trains."""
    return (FINETUNE_LR if freeze != "backbone" else HEAD_LR) * batch_size / 128


class _Planner:
    """Collects the chosen values and, for those left out, a default and its reason."""

    def __init__(self, command: str, given: Mapping[str, Any]) -> None:
        for name in given:
            setting(command, name)  # a name no setting has is a bug of the caller
        self.command = command
        self.values = dict(given)
        self.reasons: dict[str, str] = {}

    def pick(self, name: str, value: Any, reason: str) -> Any:
        if name not in self.values:
            self.values[name] = value
            self.reasons[name] = reason
        return self.values[name]

    def plan(self, image_size: int, **fixed: Any) -> RunPlan:
        """The plan of the values picked; `fixed`: `TrainConfig` fields no setting gives."""
        fields = config_fields(self.command, self.values) | fixed
        share = self.values.get("val_share", DEFAULT_VAL_SHARE)
        return RunPlan(
            command=self.command,
            config=TrainConfig(**fields),
            image_size=image_size,
            val_share=share,
            reasons=MappingProxyType(self.reasons),
        )


def plan_finetune(scan: FolderScan, base_arch: ViTArch, **given: Any) -> RunPlan:
    """The fine-tune's settings: `given` (setting names, as the user chose them) plus defaults
    from the folder and the base model for every one left out."""
    images = len(scan.train)
    smallest = min(train for train, _val in scan.class_counts().values())
    planner = _Planner(FINETUNE, given)
    pick = planner.pick
    size = pick(
        "image_size",
        base_arch.image_size,
        f"the base model's input size ({base_arch.image_size} px): its position embeddings fit "
        "it as they are",
    )
    if size % base_arch.patch_size:
        fitting = max(base_arch.patch_size, size - size % base_arch.patch_size)
        raise StudioError(
            f"image size {size} px is not a multiple of the base model's patch size "
            f"({base_arch.patch_size} px); use e.g. {fitting} px"
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
        f"{EPOCH_RANGE[1]} epochs: enough to adapt every layer to a new kind of image, few "
        "enough for minutes on a CPU",
    )
    if "epochs" not in given:
        _pick_budget(planner, images)
    freeze = pick(
        "freeze",
        default_freeze(smallest),
        f"the smallest class has {smallest} training images: from {FULL_FROM} on every layer "
        "trains (the layer decay keeps the early ones close to what they knew), under "
        f"{FULL_FROM} only the new head does",
    )
    pick(
        "lr",
        finetune_lr(batch, freeze),
        "1e-3 × batch/128 for the head when every layer trains (the layers below learn less by "
        "the layer decay), 5e-4 × batch/128 when only the head trains",
    )
    pick(
        "layer_decay",
        LAYER_DECAY,
        f"{LAYER_DECAY}: the first block learns at {LAYER_DECAY ** base_arch.num_layers:.0%} "
        "of the head's rate, so the general features of the early layers change least",
    )
    pick(
        "probe_head",
        True,
        "a head fitted to the frozen features first (a linear probe) is already a good model, "
        "and its gradients do not scramble the pre-trained layers as a random head's would",
    )
    pick(
        "warmup_epochs",
        _warmup(epochs),
        "5% of the epochs (at most 10): the new head's first large gradients do not shake the "
        "pre-trained layers",
    )
    augment = pick(
        "augment",
        DEFAULT_AUGMENT[FINETUNE],
        "random crops that keep at least 80 % of the image: crops keeping only half (light) "
        "lost what tells small objects and glyphs apart, and no augmentation (off) overfitted "
        "(benchmarks/bench_finetune.py)",
    )
    pick(
        "flip",
        FLIP_AUTO if augment != "off" else FLIP_OFF,
        "measured on the folder before the run starts: mirrored only where a quick probe finds "
        "mirrored images as easy as the originals"
        if augment != "off"
        else "no augmentation was asked for",
    )
    epochs_planned = planner.values["epochs"]
    pick(
        "patience",
        default_patience(epochs_planned),
        f"a quarter of the {epochs_planned} epochs, at least {MIN_PATIENCE}: past that, "
        "validation has stopped improving and the rest of the time budget is better saved",
    )
    return planner.plan(size, keep_start=True)


def default_patience(epochs: int) -> int:
    """Epochs without a better validation after which a fine-tune stops (see the module)."""
    return max(MIN_PATIENCE, round(epochs * PATIENCE_SHARE))


def resolve_flip(plan: RunPlan, test: MirrorTest) -> RunPlan:
    """`plan` with its "auto" mirroring decided by `test` (run on the training images), and the
    measurement as the reason."""
    keeps = test.mirroring_keeps_class
    config = plan.config
    augment = replace(config.augment, hflip=_MIRROR[FLIP_ON] if keeps else 0.0)
    verdict = "mirrored at random" if keeps else "never mirrored"
    reason = f"auto: {verdict}; {test.describe()}"
    return replace(
        plan,
        config=replace(config, augment=augment),
        reasons=MappingProxyType(dict(plan.reasons) | {"flip": reason}),
    )


def plan_train(scan: FolderScan, image_size: int, **given: Any) -> RunPlan:
    """Training from scratch: `given` plus the from-scratch defaults (long, strongly augmented:
    a ViT trained from nothing needs both). `image_size` is the new model's."""
    planner = _Planner(TRAIN, given)
    pick = planner.pick
    epochs = pick("epochs", TRAIN_EPOCHS, "the from-scratch default: a ViT learns slowly")
    batch = pick("batch_size", TRAIN_BATCH, "the from-scratch default")
    pick("lr", default_lr(batch), "5e-4 × batch/128 (linear scaling with the batch)")
    pick("warmup_epochs", _warmup(epochs), "5% of the epochs (at most 10)")
    pick(
        "augment",
        DEFAULT_AUGMENT[TRAIN],
        "TrivialAugment, random erasing, Mixup and CutMix: a ViT trained from scratch on a "
        "small dataset overfits without them",
    )
    return planner.plan(image_size)


def default_budget_minutes(train_images: int) -> float:
    """The time budget of a fine-tune with derived epochs (see the module)."""
    return max(MIN_BUDGET_MINUTES, round(train_images * BUDGET_SECONDS_PER_IMAGE / 60, 1))


def _pick_budget(planner: _Planner, images: int) -> None:
    minutes = planner.pick(
        "max_minutes",
        default_budget_minutes(images),
        f"half a second per training image, at least {MIN_BUDGET_MINUTES:g} min: the derived "
        "epochs take about that on a 2-core laptop CPU, and a slower computer trains fewer "
        "instead of longer",
    )
    if minutes is not None:
        planner.pick(
            "fit_epochs",
            True,
            "once the first epochs are timed, the derived epochs are cut to what fits the time "
            "budget, so the learning rate still ends its cosine",
        )


def _warmup(epochs: int) -> float:
    return min(10.0, round(epochs * 0.05, 2))
