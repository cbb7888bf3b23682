"""Named ViT shapes and freshly initialised models to train from scratch, with their defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ModelMeta,
    Preprocessing,
    StudioModel,
    ViTArch,
    build_vit,
    make_model,
)


@dataclass(frozen=True)
class ArchPreset:
    """A named ViT shape for training from scratch; the head size comes from the data."""

    image_size: int
    patch_size: int
    num_layers: int
    num_heads: int
    hidden_dim: int
    mlp_dim: int
    note: str


ARCH_PRESETS: dict[str, ArchPreset] = {
    "micro": ArchPreset(32, 4, 4, 4, 128, 256, "0.5M params, 32px: quick experiments on a CPU"),
    "lite": ArchPreset(32, 4, 7, 4, 256, 512, "ViT-Lite-7/4 (Compact Transformers), 32px: CIFAR"),
    "tiny": ArchPreset(224, 16, 12, 3, 192, 768, "ViT-Ti/16 (DeiT-Tiny), 224px"),
    "small": ArchPreset(224, 16, 12, 6, 384, 1536, "ViT-S/16 (DeiT-Small), 224px"),
    "base": ArchPreset(224, 16, 12, 12, 768, 3072, "ViT-B/16, 224px"),
}


def preset_arch(name: str, num_classes: int, **overrides: int | None) -> ViTArch:
    """The architecture of preset `name` with `num_classes` outputs.

    `overrides` (image_size, patch_size, num_layers, num_heads, hidden_dim, mlp_dim) replace the
    preset's values where not None.
    """
    if name not in ARCH_PRESETS:
        raise StudioError(
            f"architecture '{name}' is unknown; choose one of {', '.join(ARCH_PRESETS)}"
        )
    values = {k: v for k, v in asdict(ARCH_PRESETS[name]).items() if k != "note"}
    for key, value in overrides.items():
        if key not in values:
            raise StudioError(
                f"'{key}' is not an architecture setting; use one of {', '.join(values)}"
            )
        if value is not None:
            if value < 1:
                raise StudioError(f"architecture {key}={value} must be a positive number")
            values[key] = value
    return ViTArch(**values, num_classes=num_classes)


def new_model(
    arch: ViTArch,
    class_names: tuple[str, ...],
    *,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
    seed: int = 0,
    name: str = "vit",
) -> StudioModel:
    """A freshly initialised model (torchvision's init, drawn from `seed`) ready to train.

    Its preprocessing resizes the shorter side to the image size and centre-crops, exactly how
    `data.cache_images` prepares training images, so inference sees what training saw.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = build_vit(arch)
    meta = ModelMeta(
        name=name,
        class_names=tuple(class_names),
        preprocessing=Preprocessing(
            resize_size=arch.image_size, crop_size=arch.image_size, mean=tuple(mean), std=tuple(std)
        ),
        provenance={"source": "trained from scratch"},
    )
    return make_model(module, arch, meta)


def dataset_mean_std(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images [N,3,H,W] in [0, 1] units (for normalisation)."""
    total = torch.zeros(3, dtype=torch.float64)
    squares = torch.zeros(3, dtype=torch.float64)
    # Small chunks: a float64 copy of 256 images at 224 px is already 300 MB.
    for chunk in images.split(256):
        values = chunk.to(torch.float64).div_(255.0)
        total += values.sum((0, 2, 3))
        squares += values.square().sum((0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (squares / count - mean.square()).clamp_(min=1e-12).sqrt()
    return tuple(round(v, 4) for v in mean.tolist()), tuple(round(v, 4) for v in std.tolist())


def default_lr(batch_size: int, *, finetune: bool = False) -> float:
    """Peak learning rate: 5e-4 from scratch, 1e-4 fine-tuning, per 128 images (linear scaling)."""
    return (1e-4 if finetune else 5e-4) * batch_size / 128
