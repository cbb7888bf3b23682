"""Adapting a trained model to fine-tune: new head, new image size, frozen parameters."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import ModelMeta, StudioModel, make_model
from vit_studio.engine.training.class_match import match_class_names
from vit_studio.engine.vit import VisionTransformer


def interpolate_pos_embedding(pos_embedding: torch.Tensor, grid_size: int) -> torch.Tensor:
    """[1, 1+g², D] -> [1, 1+grid_size², D]: class token kept, patch grid resized bicubically."""
    class_token, patches = pos_embedding[:, :1], pos_embedding[:, 1:]
    old = math.isqrt(patches.shape[1])
    if old == grid_size:
        return pos_embedding
    dim = patches.shape[-1]
    grid = patches.reshape(1, old, old, dim).permute(0, 3, 1, 2).float()
    grid = F.interpolate(
        grid, size=(grid_size, grid_size), mode="bicubic", align_corners=False, antialias=True
    )
    patches = grid.permute(0, 2, 3, 1).reshape(1, grid_size * grid_size, dim)
    return torch.cat([class_token, patches.to(pos_embedding.dtype)], dim=1)


def prepare_finetune(
    base: StudioModel,
    class_names: tuple[str, ...],
    *,
    image_size: int | None = None,
    freeze: str = "none",
) -> StudioModel:
    """A copy of `base` ready to fine-tune on `class_names` (the base model is left untouched).

    The head is replaced by one with one output per class: where every class is one of the base
    model's (names matched as `vit-studio evaluate` matches them, `class_match`), its rows are the
    base model's own for those classes, so the new model is the base model restricted to the
    folder's classes (the provenance's `head_from_base` lists them); otherwise it is zero
    (uniform guesses; `start.choose_start` fits it to the frozen features). A new `image_size`
    (a multiple of the patch size) resizes the position embeddings bicubically over the patch
    grid and updates the architecture and preprocessing. `freeze` is applied as in
    `apply_freeze`.
    """
    if not class_names:
        raise StudioError("no class names to fine-tune on; point at a folder with class subfolders")
    module = copy.deepcopy(base.module)
    arch = base.arch
    base_head = module.heads.head
    head = nn.Linear(base_head.in_features, len(class_names)).to(base.device)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)
    rows = match_class_names(class_names, base.meta.class_names) if arch.has_classifier else None
    if rows is not None:
        with torch.no_grad():
            head.weight.copy_(base_head.weight[list(rows)])
            head.bias.copy_(base_head.bias[list(rows)])
    module.heads.head = head
    arch = replace(arch, num_classes=len(class_names))

    pre = base.meta.preprocessing
    if image_size is not None and image_size != arch.image_size:
        if image_size % arch.patch_size:
            raise StudioError(
                f"image size {image_size} is not a multiple of the base model's patch size "
                f"{arch.patch_size}; choose e.g. {image_size - image_size % arch.patch_size}"
            )
        arch = replace(arch, image_size=image_size)
        with torch.no_grad():
            resized = interpolate_pos_embedding(module.encoder.pos_embedding, arch.grid_size)
        module.encoder.pos_embedding = nn.Parameter(resized)
        # torchvision checks inputs against these attributes.
        module.image_size = image_size
        module.seq_length = arch.num_tokens
        resize = round(pre.resize_size * image_size / pre.crop_size)
        pre = replace(pre, resize_size=resize, crop_size=image_size)
    apply_freeze(module, freeze)
    meta = ModelMeta(
        name=base.meta.name,
        class_names=tuple(class_names),
        preprocessing=pre,
        provenance={"finetuned_from": base.meta.name}
        | ({"head_from_base": list(rows)} if rows is not None else {}),
    )
    return make_model(module, arch, meta)


def apply_freeze(module: VisionTransformer, freeze: str) -> None:
    """Choose what trains by setting `requires_grad` on every parameter.

    "none": everything; "backbone": the head only; "N": the last N encoder blocks, the final
    encoder norm and the head (the patch embedding, class token and position embedding stay
    frozen whenever anything is).
    """
    num_layers = len(module.encoder.layers)
    first_trained = num_layers - _trainable_blocks(freeze, num_layers)
    for name, parameter in module.named_parameters():
        if freeze == "none" or name.startswith("heads."):
            trainable = True
        elif name.startswith("encoder.ln."):
            trainable = first_trained < num_layers
        elif name.startswith("encoder.layers."):
            # encoder.layers.encoder_layer_<i>.<...>
            trainable = int(name.split(".")[2].rsplit("_", 1)[1]) >= first_trained
        else:
            trainable = False
        parameter.requires_grad_(trainable)


def _trainable_blocks(freeze: str, num_layers: int) -> int:
    """How many last encoder blocks train under `freeze` (validated against `num_layers`)."""
    if freeze == "none":
        return num_layers
    if freeze == "backbone":
        return 0
    if freeze.isdigit() and int(freeze) <= num_layers:
        return int(freeze)
    raise StudioError(
        f"freeze '{freeze}' is not understood; use none, backbone, or the number of last blocks "
        f"to train (0 to {num_layers})"
    )
