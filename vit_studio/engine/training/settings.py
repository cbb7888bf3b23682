"""The settings of a training run, described once for every front end.

Each `Setting` says what it does, how it is typed and ranged, and what it defaults to. From this
one table come the `vit-studio train` and `finetune` flags (`cli.train`), the fine-tune panel's
form with its tooltips (`gui.finetune.settings_form`), the "settings: …" explanation of a plan
(`plan.RunPlan.explain`) and the command line that repeats a run (`command_arguments`).

Values travel as a flat mapping from setting name to value (`{"epochs": 10, "augment":
"light"}`); `plan` turns such values into a `TrainConfig`. Settings come in four kinds: what a
run learns (`LEARNING`), the model's shape (`SHAPE`), how the folder is split (`DATA`) — none of
which a resumed run may change — and where and how fast it runs (`RUNTIME`), which it may.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vit_studio.engine.augment import AUGMENT_PRESETS, FLIP_CHOICES
from vit_studio.engine.device import DEVICE_CHOICES
from vit_studio.engine.training.precision import PRECISIONS
from vit_studio.engine.training.presets import ARCH_PRESETS

TRAIN, FINETUNE = "train", "finetune"
COMMANDS = (TRAIN, FINETUNE)
LEARNING, SHAPE, DATA, RUNTIME = "learning", "shape", "data", "runtime"
FREEZE_WIDGET = "freeze"  # a choice of none / backbone / the last N blocks
PATIENCE_DEFAULT_TEXT = "a quarter of the epochs, at least 5"


@dataclass(frozen=True)
class Setting:
    """One setting: its name in values and plans, and how people see and give it."""

    name: str
    label: str  # "Batch size"
    help: str  # what it does, in a sentence or two
    defaults: Mapping[str, str]  # command -> the default in words, as --help states it
    type: type = int  # int, float, str or bool
    kind: str = LEARNING
    advanced: bool = False  # the form shows it under Advanced
    flag: str = ""  # the command-line flag, when not --name-with-dashes
    metavar: str = "N"
    choices: tuple[str, ...] = ()
    bounds: tuple[float, float] = (0, 1_000_000)  # what the form's field accepts
    step: float = 1.0
    decimals: int = 0
    scientific: bool = False  # shown as 2.5e-04 (learning rates)
    unit: str = ""  # after the number in the form: "px"
    widget: str = ""  # a field of its own kind in the form (FREEZE_WIDGET)
    field_name: str = ""  # the TrainConfig / ViTArch field, when not `name`
    commands: tuple[str, ...] = field(default=COMMANDS)

    @property
    def option(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def target(self) -> str:
        """The field of `TrainConfig` (or, for the shape, of the architecture) it sets."""
        return self.field_name or self.name

    def default_for(self, command: str) -> str:
        return self.defaults[command]


def _both(text: str) -> dict[str, str]:
    return {TRAIN: text, FINETUNE: text}


SETTINGS: tuple[Setting, ...] = (
    # --- what a run learns ------------------------------------------------------------------
    Setting(
        "epochs", "Epochs", "Passes over the training images.",
        {TRAIN: "100", FINETUNE: "about 400 steps in all, from 3 to 60 epochs"},
        bounds=(1, 1000),
    ),
    Setting(
        "batch_size", "Batch size", "Images per optimiser step.",
        {TRAIN: "128", FINETUNE: "a tenth of the training images, as a power of two from 8 to 64"},
        bounds=(1, 4096),
    ),
    Setting(
        "lr", "Learning rate",
        "Peak learning rate of AdamW, reached after the warmup, then lowered along a cosine.",
        {
            TRAIN: "5e-4 × batch/128",
            FINETUNE: "1e-3 × batch/128 when every layer trains, else 5e-4 × batch/128",
        },
        type=float, metavar="LR", bounds=(1e-8, 1.0), scientific=True,
    ),
    Setting(
        "freeze", "What trains",
        "Which weights change: none (every layer), backbone (only the new head) or N (the last N "
        "blocks and the head). The patch embedding, class token and position embedding stay "
        "fixed whenever anything is frozen.",
        {FINETUNE: "every layer, or only the head when the smallest class has under 10 images"},
        type=str, metavar="none|backbone|N", widget=FREEZE_WIDGET, commands=(FINETUNE,),
    ),
    Setting(
        "layer_decay", "Layer decay",
        "Layer-wise learning-rate decay: each block learns at this fraction of the rate of the "
        "block above it, the head at the full rate (1: every layer alike), so the early, general "
        "layers change least.",
        {FINETUNE: "0.75"},
        type=float, metavar="D", bounds=(0.05, 1.0), step=0.05, decimals=2, advanced=True,
        commands=(FINETUNE,),
    ),
    Setting(
        "probe_head", "Fit the head first",
        "Before training, fit the new head to the frozen features of the training images "
        "(a linear probe), so that fine-tuning starts from a head that already fits instead of "
        "from random guesses that shake the pre-trained layers (LP-FT, Kumar et al. 2022).",
        {FINETUNE: "on"},
        type=bool, advanced=True, commands=(FINETUNE,),
    ),
    Setting(
        "image_size", "Image size",
        "The size images are trained at, a multiple of the patch size; another size than the "
        "base model's resizes its position embeddings.",
        {FINETUNE: "the base model's"},
        kind=SHAPE, metavar="S", bounds=(1, 2048), unit="px", commands=(FINETUNE,),
    ),
    Setting(
        "augment", "Augmentation",
        "How training images are varied each epoch. gentle: random crops that keep at least "
        "80 % of the image, and flips; light: crops that keep at least half; strong: also "
        "TrivialAugment, random erasing and Mixup/CutMix; off: none. Flips follow the Mirror "
        "images setting.",
        {TRAIN: "strong", FINETUNE: "gentle"},
        type=str, choices=AUGMENT_PRESETS, advanced=True,
    ),
    Setting(
        "flip", "Mirror images",
        "Mirror training images left to right at random. auto: measured on the folder before "
        "the run, mirrored only where that does not change what the images show (a mirrored 2 "
        "is no 2; a mirrored cat is a cat); on; off.",
        {TRAIN: "the augmentation's: on, off with --augment off",
         FINETUNE: "auto, off with --augment off"},
        type=str, choices=FLIP_CHOICES, advanced=True,
    ),
    Setting(
        "mixup", "Mixup alpha", "Mixup alpha: blend pairs of images and their labels (0: off).",
        _both("the augmentation's: 0.8 with strong, else 0"),
        type=float, metavar="ALPHA", bounds=(0.0, 10.0), step=0.1, decimals=2, advanced=True,
    ),
    Setting(
        "cutmix", "CutMix alpha",
        "CutMix alpha: paste a box of one image into another, labels mixed by area (0: off).",
        _both("the augmentation's: 1 with strong, else 0"),
        type=float, metavar="ALPHA", bounds=(0.0, 10.0), step=0.1, decimals=2, advanced=True,
    ),
    Setting(
        "label_smoothing", "Label smoothing",
        "Share of each target spread over the other classes: a little keeps the model from "
        "becoming overconfident.",
        _both("0.1"),
        type=float, metavar="E", bounds=(0.0, 0.9), step=0.05, decimals=3, advanced=True,
    ),
    Setting(
        "warmup_epochs", "Warmup epochs",
        "Epochs over which the learning rate rises linearly from zero.",
        _both("5% of the epochs, at most 10"),
        type=float, metavar="E", bounds=(0.0, 100.0), step=0.5, decimals=2, advanced=True,
    ),
    Setting(
        "weight_decay", "Weight decay",
        "AdamW weight decay of the weight matrices (biases, norms, the position embedding and "
        "the class token have none).",
        _both("0.05"),
        type=float, metavar="WD", bounds=(0.0, 1.0), step=0.01, decimals=3, advanced=True,
    ),
    Setting(
        "grad_clip", "Gradient clipping",
        "Largest global gradient norm; larger gradients are scaled down to it (0: no clipping).",
        _both("1"),
        type=float, metavar="NORM", bounds=(0.0, 100.0), step=0.5, decimals=2, advanced=True,
    ),
    Setting(
        "seed", "Seed",
        "Decides the sample order and the augmentation: the same seed and settings give the "
        "same model, in the GUI and with vit-studio finetune.",
        _both("0"),
        bounds=(0, 2**31 - 1), advanced=True,
    ),
    # --- how the folder is split -------------------------------------------------------------
    Setting(
        "val_share", "Validation share",
        "Share of each class held out to validate on (ignored for a folder with val/).",
        _both("0.2"),
        type=float, kind=DATA, metavar="F", bounds=(0.0, 0.9), step=0.05, decimals=2,
        advanced=True,
    ),
    # --- the shape of a new model (train only) -----------------------------------------------
    Setting(
        "arch", "Architecture",
        "Architecture preset: " + "; ".join(f"{k}: {p.note}" for k, p in ARCH_PRESETS.items())
        + ".",
        {TRAIN: "none: choose one"},
        type=str, kind=SHAPE, choices=tuple(ARCH_PRESETS), commands=(TRAIN,),
    ),
    *(
        Setting(
            name, label, f"Override the preset's {what}.", {TRAIN: "the preset's"},
            kind=SHAPE, flag=flag, field_name=target, commands=(TRAIN,),
        )
        for name, label, flag, target, what in (
            ("image_size", "Image size", "", "", "input size in pixels"),
            ("patch_size", "Patch size", "", "", "patch size in pixels"),
            ("layers", "Blocks", "", "num_layers", "encoder blocks"),
            ("heads", "Heads", "", "num_heads", "attention heads"),
            ("dim", "Width", "", "hidden_dim", "hidden size"),
            ("mlp_dim", "MLP width", "", "mlp_dim", "MLP size"),
        )
    ),
    # --- where and how fast it runs: a resumed run may change these ---------------------------
    Setting(
        "device", "Device",
        "Where to run: auto picks CUDA, then Apple MPS, then the CPU.",
        _both("auto"),
        type=str, kind=RUNTIME, choices=DEVICE_CHOICES,
    ),
    Setting(
        "precision", "Precision",
        "auto: bf16 autocast on CUDA and on CPUs with bf16 instructions, else fp32.",
        _both("auto"),
        type=str, kind=RUNTIME, choices=PRECISIONS,
    ),
    Setting(
        "compile", "Compile",
        "torch.compile the model and the augmentation: about 30 s to start, then about twice "
        "as fast on a GPU.",
        _both("off"),
        type=bool, kind=RUNTIME,
    ),
    Setting(
        "max_minutes", "Time budget",
        "Stop, saved and resumable, when the next epoch would pass this many minutes.",
        {TRAIN: "none", FINETUNE: "with derived epochs: half a second per training image, at "
         "least 5 min"},
        type=float, kind=RUNTIME, metavar="M",
    ),
    Setting(
        "patience", "Patience",
        "Stop when the validation accuracy has not improved for this many epochs (the best "
        "model is kept; 0: never stop early).",
        {TRAIN: "0", FINETUNE: PATIENCE_DEFAULT_TEXT},
        kind=RUNTIME, metavar="EPOCHS", bounds=(0, 1000),
    ),
    Setting(
        "fit_epochs", "Fit the epochs",
        "With a time budget: time the first epochs, then cut the epochs to what fits, so the "
        "learning-rate schedule ends inside the budget (re-planned if epochs slow down).",
        {TRAIN: "off", FINETUNE: "on with the derived time budget"},
        type=bool, kind=RUNTIME,
    ),
    Setting("val_every", "Validate every", "Validate every N epochs.", _both("1"), kind=RUNTIME),
    Setting(
        "checkpoint_every", "Checkpoint every", "Write the resumable checkpoint every N epochs.",
        _both("1"), kind=RUNTIME,
    ),
)  # fmt: skip


def settings_for(command: str, *kinds: str) -> tuple[Setting, ...]:
    """The settings of `command` ("train" or "finetune"), in table order; only `kinds` if given."""
    return tuple(
        s for s in SETTINGS if command in s.commands and (not kinds or s.kind in kinds)
    )


def setting(command: str, name: str) -> Setting:
    """The setting `name` of `command`."""
    for candidate in settings_for(command):
        if candidate.name == name:
            return candidate
    raise KeyError(f"{command} has no setting {name!r}")


def command_arguments(command: str, values: Mapping[str, Any]) -> list[str]:
    """The command-line flags that give `values` (in table order; None and runtime switches that
    are off are left out; a learning switch that is off is --no-NAME).

    Floats are written with repr(), which reads back as the same float, so a run repeated from
    the words is the same run.
    """
    words: list[str] = []
    for entry in settings_for(command):
        value = values.get(entry.name)
        if value is None or (value is False and entry.kind == RUNTIME):
            continue
        if value is False:  # a learning switch turned off: --no-NAME
            words.append("--no-" + entry.option[2:])
        else:
            words.append(entry.option)
        if not isinstance(value, bool):
            words.append(repr(value) if isinstance(value, float) else str(value))
    return words
