"""The settings of a run: what it learns, and which of them a resumed run may change."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from vit_studio.engine.augment import FLIP_CHOICES, AugmentConfig
from vit_studio.engine.errors import StudioError
from vit_studio.engine.training.precision import PRECISIONS

# Settings a resumed run may change: they decide where and how fast it runs, not what it learns.
RUNTIME_FIELDS = frozenset(
    {
        "device",
        "precision",
        "compile",
        "max_minutes",
        "fit_epochs",
        "patience",
        "log_every",
        "step_metrics",
        "val_every",
        "checkpoint_every",
    }
)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a run learns, plus how it runs (`RUNTIME_FIELDS`)."""

    epochs: int = 100
    batch_size: int = 128
    lr: float = 5e-4  # peak, reached after warmup; see `default_lr`
    min_lr: float = 1e-6  # where the cosine ends
    weight_decay: float = 0.05  # not applied to biases, norms, position embedding, class token
    warmup_epochs: float = 5.0
    label_smoothing: float = 0.1
    grad_clip: float | None = 1.0  # max global gradient norm; None: no clipping
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # How mirroring was chosen (FLIP_CHOICES; None: as the augmentation preset has it). "auto"
    # is decided on the folder when the run is prepared, into `augment.hflip`.
    flip: str | None = None
    seed: int = 0
    freeze: str = "none"  # see `apply_freeze`
    # Layer-wise learning-rate decay: block i of L learns at lr · decay^(L - i), the patch and
    # position embeddings at lr · decay^(L + 1), the head at lr (1: every layer alike).
    layer_decay: float = 1.0
    # Before the first step, fit the new head as a linear probe on the frozen features of the
    # (unaugmented) training images, so fine-tuning starts from a head that already fits.
    probe_head: bool = False
    # Validate the model before the first step and keep it unless an epoch beats it (a fine-tune
    # never ends worse on validation than where it started: `training.start`).
    keep_start: bool = False
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 autocast on CUDA (fp16 + scaler without bf16), fp32 else
    compile: bool = False  # torch.compile model and augmentation: for long GPU runs (~30 s start)
    max_minutes: float | None = None  # stop cleanly (and saved) when the next epoch would not fit
    # With max_minutes: once a few epochs are timed, cut `epochs` to what fits the budget, so the
    # cosine schedule ends inside it instead of being stopped halfway down.
    fit_epochs: bool = False
    # Stop when validation has not improved for this many epochs (the best model is kept);
    # None: never stop early.
    patience: int | None = None
    val_every: int = 1
    checkpoint_every: int = 1
    log_every: int = 50  # steps between reads of the loss from the device
    step_metrics: bool = False  # also write each step report to the metrics file

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "val_every", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise StudioError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("lr", "min_lr", "weight_decay", "warmup_epochs"):
            if getattr(self, name) < 0:
                raise StudioError(f"{name} must not be negative, not {getattr(self, name)}")
        if not 0.0 < self.layer_decay <= 1.0:
            raise StudioError(f"layer decay {self.layer_decay} must be in (0, 1]")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise StudioError(f"label smoothing {self.label_smoothing} must be in [0, 1)")
        if self.precision not in PRECISIONS:
            raise StudioError(
                f"precision '{self.precision}' is unknown; choose one of {', '.join(PRECISIONS)}"
            )
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise StudioError(f"max_minutes must be positive, not {self.max_minutes}")
        if self.flip is not None and self.flip not in FLIP_CHOICES:
            raise StudioError(
                f"flip '{self.flip}' is unknown; choose one of {', '.join(FLIP_CHOICES)}"
            )
        if self.patience is not None and self.patience < 1:
            raise StudioError(f"patience must be at least 1 epoch, not {self.patience}")
        if self.fit_epochs and self.max_minutes is None:
            raise StudioError(
                "fitting the epochs to a time budget needs the budget: give max_minutes "
                "(--max-minutes M on the command line)"
            )
        if self.freeze not in ("none", "backbone") and not self.freeze.isdigit():
            raise StudioError(
                f"freeze '{self.freeze}' is not understood; use none, backbone, or the number of "
                "last blocks to train"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        clean = {k: v for k, v in values.items() if k in known}
        if "augment" in clean:
            clean["augment"] = AugmentConfig.from_dict(clean["augment"])
        return cls(**clean)
