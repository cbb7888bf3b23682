"""What every checkpoint converter produces, and the checks and guesses they share."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch

from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import (
    HEADS_GIVEN,
    HEADS_KNOWN,
    HEADS_RECORDED,
    ModelMeta,
    ViTArch,
    build_vit,
)

# Head counts of the published ViTs by width, which no state dict records: ViT-Ti/S/B/L (heads of
# 64), H/14, giant, gigantic and SigLIP so400m (of 80 to 104). Any other width is a custom model,
# whose head count cannot be told from its tensors: it is asked for, never guessed.
KNOWN_HEAD_COUNTS = {192: 3, 384: 6, 768: 12, 1024: 16, 1152: 16, 1280: 16, 1408: 16, 1664: 16}
# The tensors `arch_from_state_dict` reads, in torchvision's names.
_REQUIRED = (
    "conv_proj.weight",
    "class_token",
    "encoder.pos_embedding",
    "encoder.layers.encoder_layer_0.mlp.0.weight",
    "heads.head.weight",
)
SUPPORTED = (
    "ViT Studio .safetensors; torchvision ViT state dicts (.pth); "
    "timm class-token ViTs (.safetensors/.pth/.bin); "
    "Hugging Face ViTForImageClassification folders (config.json + weights)"
)


@dataclass
class Converted:
    """A foreign checkpoint in torchvision's layout, with the shape and metadata it implies.

    `state` holds real tensors when loading and shape-only `meta` tensors when inspecting, so
    one conversion path serves both.
    """

    format: str
    state: dict[str, torch.Tensor]
    arch: ViTArch
    meta: ModelMeta


def require_tensors(state: dict[str, torch.Tensor], path: Path, fmt: str) -> None:
    """Refuse a converted state dict lacking a tensor the architecture is inferred from."""
    missing = [name for name in _REQUIRED if name not in state]
    if missing:
        raise StudioError(
            f"{path}: incomplete {fmt} ViT checkpoint (no {sample(missing)} after conversion); "
            "save the whole model, not a part of it"
        )


class HeadCountNeeded(StudioError):
    """A checkpoint that records no head count, of a width no published ViT has: the user must
    say (`--num-heads N`, or the window's prompt). `choices` are the counts the width allows."""

    def __init__(self, path: Path, hidden_dim: int) -> None:
        self.path, self.hidden_dim = path, hidden_dim
        self.choices = tuple(n for n in range(1, hidden_dim + 1) if hidden_dim % n == 0)
        likely = ", ".join(str(n) for n in self.choices if 16 <= hidden_dim // n <= 128)
        super().__init__(
            f"{path}: the file does not record its number of attention heads, and a hidden size "
            f"of {hidden_dim} is not one of a published ViT; give it with --num-heads N "
            f"(N divides {hidden_dim}: {likely or 'any divisor'} give heads of 16 to 128)"
        )


def head_count(
    hidden_dim: int, path: Path, *, given: int | None = None, recorded: Any = None
) -> tuple[int, str]:
    """The head count and where it came from (`HEADS_GIVEN`, `HEADS_RECORDED`, `HEADS_KNOWN`):
    what the user gave, else what the checkpoint or its config.json records, else the published
    ViT of this width; `HeadCountNeeded` when none of them says."""
    if given is not None:
        count, source = given, HEADS_GIVEN
    elif recorded is not None:
        try:
            count, source = int(recorded), HEADS_RECORDED
        except (TypeError, ValueError):
            raise StudioError(
                f"{path}: the recorded head count {recorded!r} is not a number; fix the config "
                "or give it with --num-heads N"
            ) from None
    elif hidden_dim in KNOWN_HEAD_COUNTS:
        count, source = KNOWN_HEAD_COUNTS[hidden_dim], HEADS_KNOWN
    else:
        raise HeadCountNeeded(path, hidden_dim)
    if count < 1 or hidden_dim % count:
        raise StudioError(
            f"{path}: {count} attention heads ({source}) do not divide the hidden size "
            f"{hidden_dim}; give a divisor with --num-heads N"
        )
    return count, source


def square_grid(num_patches: int, path: Path) -> int:
    """Patches per side of a square grid, refusing the rectangular grids torchvision lacks."""
    grid = math.isqrt(num_patches)
    if grid * grid != num_patches or grid == 0:
        raise StudioError(
            f"{path}: the position embedding covers {num_patches} patches, not a square grid; "
            "only square images and patch grids are supported"
        )
    return grid


def fill_missing_biases(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Zero biases for layers saved without one (timm `qkv_bias=False`, HF `qkv_bias: false`).

    `state` uses torchvision's names, where every `...weight` has a `...bias`; a missing bias
    and a zero bias compute the same thing.
    """
    filled = dict(state)
    for name, tensor in state.items():
        if name.endswith("weight") and tensor.ndim >= 1:
            bias = name.removesuffix("weight") + "bias"
            if bias not in filled:
                filled[bias] = torch.zeros(tensor.shape[0], device=tensor.device)
    return filled


def as_float32(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Half-precision checkpoints are common; the engine computes in float32."""
    return {name: tensor.to(torch.float32).contiguous() for name, tensor in state.items()}


def sample(names: Iterable[str], limit: int = 3) -> str:
    """A few names for a one-line message: 'a', 'b', 'c' (+4 more)."""
    names = sorted(names)
    shown = ", ".join(f"'{name}'" for name in names[:limit])
    more = len(names) - limit
    return f"{shown} (+{more} more)" if more > 0 else shown


def check_state(state: dict[str, torch.Tensor], arch: ViTArch, path: Path, fmt: str) -> None:
    """Refuse a converted state dict whose names or shapes do not fit the inferred architecture.

    Checking against a shape-only model here gives a readable message before any weight is
    copied, for inspection as well as loading.
    """
    with torch.device("meta"):
        expected = {name: t.shape for name, t in build_vit(arch).state_dict().items()}
    missing = expected.keys() - state.keys()
    unexpected = state.keys() - expected.keys()
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {sample(missing)}")
        if unexpected:
            parts.append(f"unexpected {sample(unexpected)}")
        raise StudioError(
            f"{path}: this {fmt} checkpoint does not map onto a plain ViT ({'; '.join(parts)}); "
            "only class-token ViTs without extra parts are supported"
        )
    for name, shape in expected.items():
        if state[name].shape != shape:
            raise StudioError(
                f"{path}: tensor '{name}' has shape {tuple(state[name].shape)} where the "
                f"inferred architecture needs {tuple(shape)}; the checkpoint is inconsistent or "
                "its config does not match its weights"
            )


@cache
def imagenet_categories() -> tuple[str, ...]:
    """The ImageNet-1k class names in the standard synset order shared by torchvision, timm and HF.

    They come from torchvision's weight metadata, which ships with torchvision (no download).
    """
    from torchvision.models import ViT_B_16_Weights

    return tuple(ViT_B_16_Weights.IMAGENET1K_V1.meta["categories"])
