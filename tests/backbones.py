"""Tiny random timm models with layer scale (DeiT-III) and without a head (DINOv2-style), saved
the way timm saves them, for the tests of layer-scale folding and head-less backbones."""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from timm.models._hub import save_for_hf
from torch import nn

DINOV2_SIZE = 56  # 4 x 4 patches of 14 px: DINOv2's patch size on a tiny grid


def randomised(module: nn.Module, seed: int = 0) -> nn.Module:
    """Noise on every parameter, and layer-scale gammas far from timm's constant init (1e-5),
    so a gamma folded into the wrong rows or the wrong layer shows in the outputs."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            noise = torch.randn(param.shape, generator=generator)
            param.copy_(noise) if "gamma" in name else param.add_(noise * 0.1)
    return module.eval()


def timm_deit3(**overrides) -> nn.Module:
    """DeiT-III, shrunk: layer scale and a class token without a position embedding."""
    # Head dim 64: the head count follows from the width even without the config's model_args.
    kwargs = dict(img_size=32, patch_size=8, embed_dim=128, depth=2, num_heads=2, num_classes=5)
    return randomised(
        timm.create_model("deit3_small_patch16_224", pretrained=False, **(kwargs | overrides))
    )


def timm_dinov2(**overrides) -> nn.Module:
    """DINOv2 ViT-S/14, shrunk: layer scale and no head (`num_classes=0`)."""
    kwargs = dict(img_size=DINOV2_SIZE, embed_dim=32, depth=2, num_heads=2)
    return randomised(
        timm.create_model("vit_small_patch14_dinov2", pretrained=False, **(kwargs | overrides))
    )


def save_timm_folder(model: nn.Module, folder: Path) -> Path:
    """A timm hub folder: config.json (with the model's args) + model.safetensors."""
    save_for_hf(model, folder, safe_serialization=True)
    return folder
