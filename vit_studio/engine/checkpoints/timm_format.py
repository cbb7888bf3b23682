"""timm checkpoints of class-token ViTs (AugReg, DeiT, DeiT-III, DINO, DINOv2, MAE) in
torchvision's layout.

Only the ViT variants a stock torchvision `VisionTransformer` computes exactly are accepted;
some timm features are folded exactly into plain ViT weights (layer scale into the projections
it scales, a class token without a position into a zero position row), every other one is
refused by name, so a converted model never silently differs from the original. Backbones
without a head become ViTs with a zero-width head (`ViTArch.num_classes == 0`). A hub-style
`config.json` beside the weights supplies labels, head count and preprocessing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from vit_studio.engine.checkpoints.common import (
    Converted,
    fill_missing_biases,
    head_count,
    imagenet_categories,
    require_tensors,
    sample,
    square_grid,
)
from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import (
    INTERPOLATIONS,
    ModelMeta,
    Preprocessing,
    ViTArch,
    arch_from_state_dict,
    default_class_names,
)

FORMAT = "timm"
_TOP_LEVEL = {
    "patch_embed.proj.weight": "conv_proj.weight",
    "patch_embed.proj.bias": "conv_proj.bias",
    "cls_token": "class_token",
    "pos_embed": "encoder.pos_embedding",
    "norm.weight": "encoder.ln.weight",
    "norm.bias": "encoder.ln.bias",
    "pre_logits.fc.weight": "heads.pre_logits.weight",
    "pre_logits.fc.bias": "heads.pre_logits.bias",
    "head.weight": "heads.head.weight",
    "head.bias": "heads.head.bias",
}
_IN_BLOCK = {
    "norm1.": "ln_1.",
    "attn.qkv.weight": "self_attention.in_proj_weight",
    "attn.qkv.bias": "self_attention.in_proj_bias",
    "attn.proj.": "self_attention.out_proj.",
    "norm2.": "ln_2.",
    "mlp.fc1.": "mlp.0.",
    "mlp.fc2.": "mlp.3.",
}
_BLOCK = re.compile(r"blocks\.(\d+)\.(.+)")
# Layer scale, by timm's name (ls1.gamma) and the older one (gamma_1) of DeiT-III's own files:
# 1 scales the attention's output projection, 2 the MLP's second layer.
_LAYER_SCALE = re.compile(r"blocks\.(\d+)\.(?:ls([12])\.gamma|gamma_([12]))")
_SCALED = {"1": "attn.proj", "2": "mlp.fc2"}
# Tensors that take no part in inference: DINOv2's masked-image-modelling token.
_UNUSED = ("mask_token",)
# Architectures built with no_embed_class=True whose hub config.json does not say so.
_NO_EMBED_CLASS_ARCHITECTURES = ("deit3_",)
# (what it is, how its tensors are named): features a torchvision ViT cannot compute.
_UNSUPPORTED = (
    ("a distillation token, as in distilled DeiT", re.compile(r"^(dist_token|head_dist\.)")),
    ("register tokens", re.compile(r"^reg_token")),
    ("Swin-style hierarchical stages", re.compile(r"^(layers|stages)\.\d|relative_position")),
    ("a hybrid CNN stem", re.compile(r"^patch_embed\.backbone\.")),
    ("a global-average-pool head", re.compile(r"^fc_norm\.")),
    ("an attention-pool head", re.compile(r"^attn_pool\.")),
    ("qk-norm", re.compile(r"\.attn\.[qk]_norm\.")),
    ("a pre-norm before the blocks", re.compile(r"^norm_pre\.")),
)
# Why some refusals cannot be folded away, and what to pick instead.
_WHY = {
    # torchvision's ViT has one class token and a sequence of exactly 1 + patches: no slot for
    # extra tokens, which change every other token through attention.
    "register tokens": "torchvision's ViT has no slot for tokens besides the class token and the "
    "patches; pick the same model without registers (e.g. vit_small_patch14_dinov2 rather than "
    "vit_small_patch14_reg4_dinov2)",
}
_TIMM_VIT_DEFAULTS = {
    "crop_pct": 0.9,
    "interpolation": "bicubic",
    "mean": (0.5,) * 3,
    "std": (0.5,) * 3,
}
_SUPPORTED_HINT = (
    "supported: class-token ViTs such as AugReg ViT-B/16, non-distilled DeiT, DeiT-III, DINO, "
    "DINOv2 and MAE"
)


def matches(names: Collection[str]) -> bool:
    """Whether the tensor names look like timm's ViT family (including the variants we refuse)."""
    return any(
        name.startswith(("patch_embed.", "blocks.", "cls_token", "pos_embed")) for name in names
    )


def is_timm_config(config: dict[str, Any]) -> bool:
    """A timm hub `config.json` (as opposed to a Hugging Face transformers one)."""
    return "architecture" in config or "pretrained_cfg" in config


def convert(
    state: dict[str, torch.Tensor],
    path: Path,
    *,
    name: str,
    config: dict[str, Any] | None = None,
    num_heads: int | None = None,
) -> Converted:
    """Refuse unsupported variants, fold layer scale, rename into torchvision's layout, give a
    backbone its zero-width head, read the hub config."""
    config = config or {}
    model_args = config.get("model_args") or {}
    _refuse_unsupported(state, path, config, model_args)
    state = _fold_layer_scale({n: t for n, t in state.items() if n not in _UNUSED}, path)
    converted, unknown = {}, []
    for timm_name, tensor in state.items():
        new_name = _torchvision_name(timm_name)
        if new_name is None:
            unknown.append(timm_name)
        else:
            converted[new_name] = tensor
    if unknown:
        raise StudioError(
            f"{path}: timm checkpoint with tensors a plain ViT does not have ({sample(unknown)}); "
            + _SUPPORTED_HINT
        )
    if not any(name.startswith("heads.") for name in converted):
        converted |= _zero_width_head(converted.get("encoder.ln.weight"))
    require_tensors(converted, path, FORMAT)
    converted = fill_missing_biases(converted)
    converted["encoder.pos_embedding"] = _with_class_position(
        converted["encoder.pos_embedding"], _no_embed_class(config, model_args), path
    )
    hidden_dim, channels, patch_h, patch_w = converted["conv_proj.weight"].shape
    if channels != 3 or patch_h != patch_w:
        raise StudioError(
            f"{path}: patch projection takes {channels} channels in {patch_h}x{patch_w} patches; "
            "only RGB images and square patches are supported"
        )
    heads, source = head_count(
        hidden_dim, path, given=num_heads, recorded=model_args.get("num_heads")
    )
    try:
        arch = arch_from_state_dict(converted, heads, norm_eps=1e-6)
    except StudioError as exc:
        raise StudioError(f"{path}: {exc}") from exc
    meta = replace(_meta(arch, path, name, config), heads_source=source)
    return Converted(format=FORMAT, state=converted, arch=arch, meta=meta)


def _refuse_unsupported(
    state: dict[str, torch.Tensor], path: Path, config: dict[str, Any], model_args: dict[str, Any]
) -> None:
    for what, pattern in _UNSUPPORTED:
        hit = next((n for n in state if pattern.search(n)), None)
        if hit is not None:
            raise StudioError(
                f"{path}: timm checkpoint with {what} ('{hit}'), which a plain ViT cannot "
                f"compute; {_WHY.get(what, _SUPPORTED_HINT)}"
            )
    if "cls_token" not in state:
        raise StudioError(f"{path}: timm checkpoint with no class token; {_SUPPORTED_HINT}")
    if "pos_embed" not in state:
        raise StudioError(
            f"{path}: timm checkpoint with no learned position embedding; {_SUPPORTED_HINT}"
        )
    pool = model_args.get("global_pool", config.get("global_pool", "token"))
    if pool not in ("token", None):
        raise StudioError(
            f"{path}: timm ViT pools tokens with global_pool='{pool}'; {_SUPPORTED_HINT}"
        )
    act = model_args.get("act_layer")
    if act not in (None, "gelu"):
        raise StudioError(
            f"{path}: timm ViT uses activation '{act}' where torchvision uses exact GELU; "
            + _SUPPORTED_HINT
        )


def _fold_layer_scale(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    """Layer scale folded into the layer it scales: γ ⊙ (Wx + b) = (γ ⊙ W)x + γ ⊙ b, exactly.

    Works on shape-only tensors too, so inspection checks the same shapes loading does.
    """
    folded = dict(state)
    for name, gamma in state.items():
        match = _LAYER_SCALE.fullmatch(name)
        if match is None:
            continue
        index, which = match.group(1), match.group(2) or match.group(3)
        layer = f"blocks.{index}.{_SCALED[which]}"
        weight = folded.get(f"{layer}.weight")
        if weight is None or weight.shape[:1] != gamma.shape:
            raise StudioError(
                f"{path}: layer scale '{name}' of shape {tuple(gamma.shape)} does not fit "
                f"'{layer}.weight'; the checkpoint is incomplete or not a timm ViT"
            )
        # float32: a half-precision product would round differently from timm's two steps.
        scale = gamma.to(torch.float32)
        folded[f"{layer}.weight"] = weight.to(torch.float32) * scale[:, None]
        if f"{layer}.bias" in folded:
            folded[f"{layer}.bias"] = folded[f"{layer}.bias"].to(torch.float32) * scale
        del folded[name]
    return folded


def _zero_width_head(norm_weight: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """A backbone's head: what torchvision's `VisionTransformer(num_classes=0)` holds."""
    if norm_weight is None:
        return {}  # require_tensors names what is missing
    hidden_dim, device = norm_weight.shape[0], norm_weight.device
    return {
        "heads.head.weight": torch.zeros(0, hidden_dim, device=device),
        "heads.head.bias": torch.zeros(0, device=device),
    }


def _no_embed_class(config: dict[str, Any], model_args: dict[str, Any]) -> bool:
    if "no_embed_class" in model_args:
        return bool(model_args["no_embed_class"])
    return str(config.get("architecture", "")).startswith(_NO_EMBED_CLASS_ARCHITECTURES)


def _torchvision_name(timm_name: str) -> str | None:
    if timm_name in _TOP_LEVEL:
        return _TOP_LEVEL[timm_name]
    match = _BLOCK.fullmatch(timm_name)
    if match is None:
        return None
    index, rest = match.groups()
    for old, new in _IN_BLOCK.items():
        if rest.startswith(old):
            return f"encoder.layers.encoder_layer_{index}.{new}{rest[len(old) :]}"
    return None


def _with_class_position(pos_embed: torch.Tensor, no_embed_class: bool, path: Path) -> torch.Tensor:
    """timm's `no_embed_class` ViTs give the class token no position; a zero row is the same.

    Only the config can tell: a 3x3-token embedding may be a 3x3 grid without a class position
    or a 4x2 grid with one.
    """
    tokens = pos_embed.shape[1]
    if not no_embed_class:
        if math.isqrt(tokens) ** 2 == tokens:
            raise StudioError(
                f"{path}: the position embedding covers {tokens - 1} patches, not a square grid, "
                "unless the model was built with no_embed_class=True; keep its timm config.json "
                "beside the weights, or use a square image size"
            )
        square_grid(tokens - 1, path)
        return pos_embed
    square_grid(tokens, path)
    zero = torch.zeros(1, 1, pos_embed.shape[2], dtype=pos_embed.dtype, device=pos_embed.device)
    return torch.cat([zero, pos_embed], dim=1)


def _meta(arch: ViTArch, path: Path, name: str, config: dict[str, Any]) -> ModelMeta:
    cfg = {**_TIMM_VIT_DEFAULTS, **(config.get("pretrained_cfg") or {})}
    interpolation = cfg["interpolation"] if cfg["interpolation"] in INTERPOLATIONS else "bicubic"
    # timm's 'squash' and 'border' crop modes have no equivalent here; centre-crop is closest.
    preprocessing = Preprocessing(
        resize_size=math.floor(arch.image_size / float(cfg["crop_pct"])),
        crop_size=arch.image_size,
        interpolation=interpolation,
        mean=tuple(float(v) for v in cfg["mean"]),
        std=tuple(float(v) for v in cfg["std"]),
    )
    provenance: dict[str, Any] = {"format": FORMAT, "source": str(path)}
    if "architecture" in config:
        provenance["timm_architecture"] = config["architecture"]
    if not config:
        provenance["preprocessing_from"] = "timm ViT defaults (no config.json beside the weights)"
    return ModelMeta(
        name=name,
        class_names=_class_names(config, arch.num_classes),
        preprocessing=preprocessing,
        provenance=provenance,
    )


def _class_names(config: dict[str, Any], num_classes: int) -> tuple[str, ...]:
    """Label descriptions ('tench, Tinca tinca') beat label names ('n01440764')."""
    names = config.get("label_names")
    if isinstance(names, dict):
        names = [names.get(str(i), names.get(i)) for i in range(num_classes)]
    if isinstance(names, list) and len(names) == num_classes and all(names):
        descriptions = config.get("label_descriptions") or {}
        return tuple(str(descriptions.get(n, n)) for n in names)
    categories = imagenet_categories()
    if num_classes == len(categories):
        return categories
    return default_class_names(num_classes)
