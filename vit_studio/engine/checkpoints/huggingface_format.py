"""Hugging Face `ViTForImageClassification` folders in torchvision's layout.

The folder's `config.json` gives what the tensors cannot (head count, layer-norm eps, labels);
`preprocessor_config.json`, when present, gives normalisation and size. Separate query/key/value
projections become torchvision's one packed `in_proj`.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from pathlib import Path
from typing import Any

import torch

from vit_studio.engine.checkpoints.common import (
    Converted,
    fill_missing_biases,
    head_count,
    require_tensors,
    sample,
    square_grid,
)
from vit_studio.engine.checkpoints.reading import read_json
from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import (
    ModelMeta,
    Preprocessing,
    ViTArch,
    arch_from_state_dict,
    default_class_names,
)

FORMAT = "huggingface"
MODEL_TYPE = "vit"
ARCHITECTURE = "ViTForImageClassification"
_TOP_LEVEL = {
    "vit.embeddings.cls_token": "class_token",
    "vit.embeddings.position_embeddings": "encoder.pos_embedding",
    "vit.embeddings.patch_embeddings.projection.weight": "conv_proj.weight",
    "vit.embeddings.patch_embeddings.projection.bias": "conv_proj.bias",
    "vit.layernorm.weight": "encoder.ln.weight",
    "vit.layernorm.bias": "encoder.ln.bias",
    "classifier.weight": "heads.head.weight",
    "classifier.bias": "heads.head.bias",
}
# Used only for masked-image pre-training and by ViTModel's pooler; classification ignores them.
_UNUSED = ("vit.embeddings.mask_token", "vit.pooler.")
# On-disk names first; transformers 5 renames them in memory, so both spellings occur in files.
_LAYER = re.compile(r"vit\.(?:encoder\.layer|layers)\.(\d+)\.(.+)")
_IN_LAYER = {
    "attention.output.dense.": "self_attention.out_proj.",
    "attention.o_proj.": "self_attention.out_proj.",
    "layernorm_before.": "ln_1.",
    "layernorm_after.": "ln_2.",
    "intermediate.dense.": "mlp.0.",
    "mlp.fc1.": "mlp.0.",
    "output.dense.": "mlp.3.",
    "mlp.fc2.": "mlp.3.",
}
_QKV = {
    "attention.attention.query.": 0,
    "attention.attention.key.": 1,
    "attention.attention.value.": 2,
    "attention.q_proj.": 0,
    "attention.k_proj.": 1,
    "attention.v_proj.": 2,
}
# PIL resampling codes stored by image processors.
_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}
_HF_MEAN_STD = (0.5, 0.5, 0.5)


def matches(names: Collection[str]) -> bool:
    """Whether the tensor names look like a transformers ViT."""
    return any(name.startswith("vit.") for name in names)


def is_hf_config(config: dict[str, Any]) -> bool:
    """A transformers `config.json` (as opposed to a timm hub one)."""
    return "model_type" in config


def check_config(config: dict[str, Any], config_path: Path) -> None:
    """Refuse, before any weight is read, models other than a plain ViT classifier."""
    model_type = config.get("model_type")
    architectures = config.get("architectures") or []
    named = f"model type '{model_type}'" + (
        f" ({', '.join(architectures)})" if architectures else ""
    )
    if model_type != MODEL_TYPE:
        raise StudioError(
            f"{config_path}: Hugging Face {named} is not supported; "
            f"supported: {ARCHITECTURE} (model_type '{MODEL_TYPE}')"
        )
    if architectures and ARCHITECTURE not in architectures:
        raise StudioError(
            f"{config_path}: Hugging Face {named} has no image-classification head; "
            f"use a {ARCHITECTURE} checkpoint"
        )
    if config.get("hidden_act", "gelu") != "gelu":
        raise StudioError(
            f"{config_path}: activation '{config['hidden_act']}' differs from torchvision's "
            "exact GELU; only ViTs with hidden_act 'gelu' are supported"
        )
    if config.get("num_channels", 3) != 3:
        raise StudioError(
            f"{config_path}: the model takes {config['num_channels']} image channels; "
            "only RGB models are supported"
        )


def convert(
    state: dict[str, torch.Tensor],
    config: dict[str, Any],
    config_path: Path,
    *,
    name: str,
    num_heads: int | None = None,
) -> Converted:
    """Rename and pack the tensors; take heads, eps, labels and preprocessing from the folder."""
    check_config(config, config_path)
    if "classifier.weight" not in state:
        raise StudioError(
            f"{config_path}: the weights have no classifier; use a {ARCHITECTURE} checkpoint"
        )
    converted = _torchvision_state(state, config_path)
    require_tensors(converted, config_path, FORMAT)
    converted = fill_missing_biases(converted)
    square_grid(converted["encoder.pos_embedding"].shape[1] - 1, config_path)
    # A config.json without the count means ViTConfig's default, 12, for transformers too.
    heads, source = head_count(
        converted["conv_proj.weight"].shape[0],
        config_path,
        given=num_heads,
        recorded=config.get("num_attention_heads", 12),
    )
    try:
        arch = arch_from_state_dict(
            converted, num_heads=heads, norm_eps=float(config.get("layer_norm_eps", 1e-12))
        )
    except (StudioError, TypeError, ValueError) as exc:
        raise StudioError(f"{config_path}: {exc}; fix or restore the config.json") from exc
    meta = ModelMeta(
        name=name,
        class_names=_class_names(config, arch.num_classes),
        preprocessing=_preprocessing(config_path.parent, arch),
        provenance={
            "format": FORMAT,
            "source": str(config_path.parent),
            "hf_architecture": ARCHITECTURE,
        },
        heads_source=source,
    )
    return Converted(format=FORMAT, state=converted, arch=arch, meta=meta)


def _torchvision_state(state: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    converted: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], list[torch.Tensor | None]] = {}
    unknown = []
    for hf_name, tensor in state.items():
        if hf_name in _TOP_LEVEL:
            converted[_TOP_LEVEL[hf_name]] = tensor
            continue
        if hf_name.startswith(_UNUSED):
            continue
        match = _LAYER.fullmatch(hf_name)
        prefix, rest = (
            (f"encoder.layers.encoder_layer_{match[1]}.", match[2]) if match else ("", "")
        )
        renamed = next((old for old in _IN_LAYER if rest.startswith(old)), None)
        part = next((old for old in _QKV if rest.startswith(old)), None)
        if renamed is not None:
            converted[prefix + _IN_LAYER[renamed] + rest[len(renamed) :]] = tensor
        elif part is not None:
            kind = rest[len(part) :]
            qkv.setdefault((prefix, kind), [None, None, None])[_QKV[part]] = tensor
        else:
            unknown.append(hf_name)
    if unknown:
        raise StudioError(
            f"{path}: ViT weights with tensors a plain ViT does not have ({sample(unknown)}); "
            "the weights may belong to another model type"
        )
    for (prefix, kind), parts in qkv.items():
        if any(p is None for p in parts):
            raise StudioError(
                f"{path}: layer '{prefix}' lacks some query/key/value {kind} tensors; "
                "download the weights again"
            )
        converted[f"{prefix}self_attention.in_proj_{kind}"] = torch.cat(parts, dim=0)
    return converted


def _class_names(config: dict[str, Any], num_classes: int) -> tuple[str, ...]:
    id2label = config.get("id2label") or {}
    names = [id2label.get(str(i)) for i in range(num_classes)]
    if all(names):
        return tuple(str(n) for n in names)
    return default_class_names(num_classes)


def _preprocessing(folder: Path, arch: ViTArch) -> Preprocessing:
    """From preprocessor_config.json, else ViTImageProcessor's defaults (mean/std 0.5, resize).

    ViTImageProcessor squashes the whole image to the input size; resizing the shorter side to
    that size and centre-cropping is the same for square images and the closest for others.
    """
    path = folder / "preprocessor_config.json"
    doc = read_json(path) if path.is_file() else {}
    mean, std = doc.get("image_mean", _HF_MEAN_STD), doc.get("image_std", _HF_MEAN_STD)
    if doc.get("do_normalize") is False:
        mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    # The crop is the model's input size; processors that centre-crop crop to exactly that.
    return Preprocessing(
        resize_size=_size(doc.get("size"), arch.image_size),
        crop_size=arch.image_size,
        interpolation=_RESAMPLE.get(doc.get("resample", 2), "bilinear"),
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
    )


def _size(value: Any, default: int) -> int:
    if isinstance(value, dict):
        value = value.get("shortest_edge") or value.get("height")
    return int(value) if isinstance(value, (int, float)) else default
