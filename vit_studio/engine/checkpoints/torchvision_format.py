"""torchvision ViT state dicts: our tensor layout already, so only the metadata must be recovered.

The shape comes from the tensors; class names and preprocessing come from torchvision's own
weight metadata (shipped with torchvision, no download) when the shape and image size match one
of its published weights.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from vit_studio.engine.checkpoints.common import (
    Converted,
    head_count,
    imagenet_categories,
    require_tensors,
    square_grid,
)
from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import (
    ModelMeta,
    Preprocessing,
    ViTArch,
    arch_from_state_dict,
    default_class_names,
)

if TYPE_CHECKING:
    from torchvision.models import WeightsEnum

FORMAT = "torchvision"
# (patch_size, num_layers, hidden_dim, mlp_dim) of torchvision's ViT builders.
BUILDERS = {
    (16, 12, 768, 3072): "vit_b_16",
    (32, 12, 768, 3072): "vit_b_32",
    (16, 24, 1024, 4096): "vit_l_16",
    (32, 24, 1024, 4096): "vit_l_32",
    (14, 32, 1280, 5120): "vit_h_14",
}
# Names before torchvision 0.14 (pytorch/vision#6053), which torchvision still accepts.
_OLD_MLP_NAMES = {".mlp.linear_1.": ".mlp.0.", ".mlp.linear_2.": ".mlp.3."}


def matches(names: Collection[str]) -> bool:
    """Whether the tensor names look like a torchvision `VisionTransformer`."""
    return "encoder.pos_embedding" in names or any(
        name.startswith(("conv_proj.", "encoder.layers.encoder_layer_")) for name in names
    )


def convert(
    state: dict[str, torch.Tensor], path: Path, *, name: str, num_heads: int | None = None
) -> Converted:
    """Rename legacy tensors, infer the architecture, attach torchvision's metadata."""
    if any(name.startswith("conv_proj.conv_") for name in state):
        raise StudioError(
            f"{path}: this torchvision ViT has a convolutional stem (conv_stem_configs), "
            "which ViT Studio does not support; use a ViT with a plain patch projection"
        )
    state = {_current_name(name): tensor for name, tensor in state.items()}
    require_tensors(state, path, FORMAT)
    hidden_dim, channels, patch_h, patch_w = state["conv_proj.weight"].shape
    if channels != 3 or patch_h != patch_w:
        raise StudioError(
            f"{path}: patch projection takes {channels} channels in {patch_h}x{patch_w} patches; "
            "only RGB images and square patches are supported"
        )
    square_grid(state["encoder.pos_embedding"].shape[1] - 1, path)
    heads, source = head_count(hidden_dim, path, given=num_heads)
    try:
        arch = arch_from_state_dict(state, heads)
    except StudioError as exc:
        raise StudioError(f"{path}: {exc}") from exc
    meta = replace(_meta(arch, path, name), heads_source=source)
    return Converted(format=FORMAT, state=state, arch=arch, meta=meta)


def builder_name(arch: ViTArch) -> str | None:
    """torchvision's builder for this shape ('vit_b_16', ...), or None for a custom shape."""
    return BUILDERS.get((arch.patch_size, arch.num_layers, arch.hidden_dim, arch.mlp_dim))


def published_weights(arch: ViTArch, path: Path) -> WeightsEnum | None:
    """The torchvision weights this checkpoint most likely is or was fine-tuned from.

    The file name decides between weights of equal shape (the torch hub cache keeps the
    download's name); otherwise the first published weights for this image size, which
    for 224 px is IMAGENET1K_V1 and for larger sizes the SWAG end-to-end weights.
    """
    builder = builder_name(arch)
    if builder is None or arch.representation_size is not None:
        return None
    # Only here: importing torchvision costs as much as torch itself, and models of other
    # shapes never need its weight tables.
    from torchvision.models import get_model_weights

    candidates = [
        w for w in get_model_weights(builder) if w.transforms().crop_size == [arch.image_size]
    ]
    by_file = [w for w in candidates if Path(w.url).name == path.name]
    return (by_file or candidates or [None])[0]


def _current_name(name: str) -> str:
    for old, new in _OLD_MLP_NAMES.items():
        name = name.replace(old, new)
    return name


def _meta(arch: ViTArch, path: Path, name: str) -> ModelMeta:
    weights = published_weights(arch, path)
    provenance = {"format": FORMAT, "source": str(path)}
    if weights is None:
        preprocessing = Preprocessing.for_image_size(arch.image_size)
    else:
        transforms = weights.transforms()
        preprocessing = Preprocessing(
            resize_size=transforms.resize_size[0],
            crop_size=transforms.crop_size[0],
            interpolation=transforms.interpolation.value,
            mean=tuple(transforms.mean),
            std=tuple(transforms.std),
        )
        provenance["preprocessing_from"] = f"{type(weights).__name__}.{weights.name}"
    categories = imagenet_categories()
    class_names = (
        categories if arch.num_classes == len(categories) else default_class_names(arch.num_classes)
    )
    return ModelMeta(
        name=name, class_names=class_names, preprocessing=preprocessing, provenance=provenance
    )
