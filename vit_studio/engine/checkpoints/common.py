"""What every checkpoint converter produces, and the checks and guesses they share."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import ModelMeta, ViTArch, build_vit

# Head counts of the published ViTs whose head dim is not 64 (ViT-H/14, giant, gigantic, so400m);
# everything else from ViT-Ti to ViT-L uses 64-dimensional heads.
_KNOWN_HEAD_COUNTS = {768: 12, 1024: 16, 1152: 16, 1280: 16, 1408: 16, 1664: 16}
_STANDARD_HEAD_DIM = 64
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


def num_heads_for(hidden_dim: int, path: Path, num_heads: int | None = None) -> int:
    """The head count, which no state dict stores: given, known for the size, or dim/64."""
    if num_heads is not None:
        return num_heads
    if hidden_dim in _KNOWN_HEAD_COUNTS:
        return _KNOWN_HEAD_COUNTS[hidden_dim]
    if hidden_dim % _STANDARD_HEAD_DIM == 0:
        return hidden_dim // _STANDARD_HEAD_DIM
    raise StudioError(
        f"{path}: cannot tell the number of attention heads of a ViT with hidden size "
        f"{hidden_dim} (not a multiple of 64); pass num_heads when loading it"
    )


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
