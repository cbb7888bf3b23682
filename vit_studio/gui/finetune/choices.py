"""The settings of a fine-tune as the panel's form holds them, one for one with CLI flags.

Keeping the form's values in the shape of `vit-studio finetune`'s flags is what lets the panel
record, in the model's provenance, the command that reproduces its run, and lets the tests check
that the CLI and the GUI give the same model for the same settings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from vit_studio.engine.augment import AugmentConfig
from vit_studio.engine.finetune import DEFAULT_AUGMENT, DEFAULT_VAL_SHARE, FinetunePlan

AUGMENT_PRESETS = ("off", "light", "strong")


@dataclass(frozen=True)
class FinetuneChoices:
    """Every setting of a run; `train_settings()` are TrainConfig fields for `plan_finetune`."""

    epochs: int
    batch_size: int
    lr: float
    freeze: str  # "none", "backbone" or the number of last blocks that train
    image_size: int
    augment: str = DEFAULT_AUGMENT  # a preset of AUGMENT_PRESETS
    mixup: float = 0.0  # Mixup alpha, 0: off
    cutmix: float = 0.0  # CutMix alpha, 0: off
    label_smoothing: float = 0.1
    warmup_epochs: float = 0.0
    seed: int = 0
    val_share: float = DEFAULT_VAL_SHARE

    @classmethod
    def from_plan(cls, plan: FinetunePlan, val_share: float = DEFAULT_VAL_SHARE) -> FinetuneChoices:
        config = plan.config
        augment = next(
            (
                name
                for name in AUGMENT_PRESETS
                if _same_but_mixing(AugmentConfig.preset(name), config.augment)
            ),
            DEFAULT_AUGMENT,
        )
        return cls(
            epochs=config.epochs,
            batch_size=config.batch_size,
            lr=config.lr,
            freeze=config.freeze,
            image_size=plan.image_size,
            augment=augment,
            mixup=config.augment.mixup_alpha,
            cutmix=config.augment.cutmix_alpha,
            label_smoothing=config.label_smoothing,
            warmup_epochs=config.warmup_epochs,
            seed=config.seed,
            val_share=val_share,
        )

    def augment_config(self) -> AugmentConfig:
        """The preset with Mixup and CutMix replaced, exactly as the CLI builds it."""
        preset = AugmentConfig.preset(self.augment)
        return replace(preset, mixup_alpha=self.mixup, cutmix_alpha=self.cutmix)

    def train_settings(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "freeze": self.freeze,
            "augment": self.augment_config(),
            "label_smoothing": self.label_smoothing,
            "warmup_epochs": self.warmup_epochs,
            "seed": self.seed,
        }

    def cli_arguments(self) -> list[str]:
        """The `vit-studio finetune` flags that make the same run."""
        # repr() of a float reads back as the same float.
        return [
            "--epochs", str(self.epochs),
            "--batch-size", str(self.batch_size),
            "--lr", repr(self.lr),
            "--freeze", self.freeze,
            "--image-size", str(self.image_size),
            "--augment", self.augment,
            "--mixup", repr(self.mixup),
            "--cutmix", repr(self.cutmix),
            "--label-smoothing", repr(self.label_smoothing),
            "--warmup-epochs", repr(self.warmup_epochs),
            "--seed", str(self.seed),
            "--val-share", repr(self.val_share),
        ]  # fmt: skip


def _same_but_mixing(preset: AugmentConfig, config: AugmentConfig) -> bool:
    return replace(preset, mixup_alpha=0.0, cutmix_alpha=0.0) == replace(
        config, mixup_alpha=0.0, cutmix_alpha=0.0
    )
