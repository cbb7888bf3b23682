"""The ViT we use everywhere (torchvision's `VisionTransformer`, as `engine.vit` restates it) and
our one-file model format.

A model file is one `.safetensors` whose tensors are exactly `VisionTransformer.state_dict()` and
whose metadata key `vit_studio` holds a JSON document: the architecture (the keyword arguments of
`VisionTransformer`), the layer-norm eps, class names, preprocessing and provenance. Anyone can
load it with stock torchvision::

    meta = json.loads(safe_open(path, "pt").metadata()["vit_studio"])
    model = torchvision.models.VisionTransformer(**meta["arch"])
    model.load_state_dict(safetensors.torch.load_file(path))

Importing this module loads no torch: the shapes, metadata and constants are what the window
needs before its first analysis; torch is imported by the functions that build or move tensors.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safetensors import SafetensorError, safe_open

from vit_studio.engine.errors import StudioError
from vit_studio.engine.fileio import atomic_path

if TYPE_CHECKING:
    import torch

    from vit_studio.engine.vit import VisionTransformer

FORMAT_KEY = "vit_studio"
FORMAT_VERSION = 1
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INTERPOLATIONS = ("nearest", "bilinear", "bicubic")
# What every front end says where a backbone (num_classes == 0) is asked for classes.
NO_CLASSIFIER = "a backbone without a classifier: fine-tune it on a folder to add one"


@dataclass(frozen=True)
class ViTArch:
    """Shape of a class-token ViT; every field but `norm_eps` is a `VisionTransformer` argument.

    `num_classes == 0` is a backbone (DINO, DINOv2, MAE): torchvision then builds a zero-width
    head, `Linear(hidden_dim, 0)`, so the state dict, our file format and stock torchvision all
    keep working, and the logits are `[B, 0]`.
    """

    image_size: int
    patch_size: int
    num_layers: int
    num_heads: int
    hidden_dim: int
    mlp_dim: int
    num_classes: int
    representation_size: int | None = None
    norm_eps: float = 1e-6

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size:
            raise StudioError(
                f"image size {self.image_size} is not a multiple of patch size {self.patch_size}; "
                "choose sizes that divide evenly"
            )
        if self.hidden_dim % self.num_heads:
            raise StudioError(
                f"hidden dim {self.hidden_dim} is not divisible by {self.num_heads} heads; "
                "choose a head count that divides it"
            )

    @property
    def grid_size(self) -> int:
        """Patches per side: the patch grid is `grid_size × grid_size`."""
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid_size**2

    @property
    def num_tokens(self) -> int:
        """Sequence length seen by the encoder: class token plus patches."""
        return self.num_patches + 1

    @property
    def head_dim(self) -> int:
        return self.hidden_dim // self.num_heads

    @property
    def has_classifier(self) -> bool:
        return self.num_classes > 0

    def torchvision_kwargs(self) -> dict[str, Any]:
        kwargs = asdict(self)
        kwargs.pop("norm_eps")
        if kwargs["representation_size"] is None:
            kwargs.pop("representation_size")
        return kwargs

    def describe(self) -> str:
        return (
            f"{self.num_layers} layers, {self.num_heads} heads, dim {self.hidden_dim}, "
            f"mlp {self.mlp_dim}, {self.image_size}px / patch {self.patch_size} "
            f"({self.grid_size}x{self.grid_size} grid), "
            + (f"{self.num_classes} classes" if self.has_classifier else "no classifier")
        )


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the model's input: resize the shorter side, centre-crop, normalise."""

    resize_size: int
    crop_size: int
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise StudioError(
                f"interpolation '{self.interpolation}' is unknown; use one of {INTERPOLATIONS}"
            )

    @classmethod
    def for_image_size(cls, image_size: int, **kwargs: Any) -> Preprocessing:
        """The usual ImageNet policy: resize to size/0.875, then centre-crop to size."""
        return cls(resize_size=int(math.floor(image_size / 0.875)), crop_size=image_size, **kwargs)


# Where a model's head count came from, as the model panel says it.
HEADS_RECORDED = "recorded in the file"
HEADS_KNOWN = "known for this width"
HEADS_GIVEN = "given by you"


@dataclass(frozen=True)
class ModelMeta:
    """Everything about a model that is not a tensor."""

    name: str
    class_names: tuple[str, ...]
    preprocessing: Preprocessing
    provenance: dict[str, Any] = field(default_factory=dict)
    # Where `arch.num_heads` came from: state dicts do not record it (see checkpoints.common).
    heads_source: str = HEADS_RECORDED


@dataclass
class StudioModel:
    """A loaded model: the `VisionTransformer` module, its shape and its metadata."""

    module: VisionTransformer
    arch: ViTArch
    meta: ModelMeta

    @property
    def device(self) -> torch.device:
        return self.module.class_token.device

    def to(self, device: torch.device | str) -> StudioModel:
        self.module.to(device)
        return self

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    def label(self, index: int) -> str:
        return self.meta.class_names[index]

    def require_classifier(self, what: str) -> None:
        """Refuse a backbone where classes are needed ('to predict', 'to evaluate', ...)."""
        if not self.arch.has_classifier:
            raise StudioError(f"{self.meta.name} has no classes {what} ({NO_CLASSIFIER})")


def build_vit(arch: ViTArch) -> VisionTransformer:
    """A randomly initialised ViT of this shape (torchvision's initialisation); built under
    `torch.device("meta")`, a shape-only one to load tensors into with `assign=True`."""
    from torch import nn

    from vit_studio.engine.vit import VisionTransformer

    norm_layer = partial(nn.LayerNorm, eps=arch.norm_eps)
    with warnings.catch_warnings():
        # A backbone's zero-width head: torch warns that initialising it does nothing.
        warnings.filterwarnings("ignore", "Initializing zero-element tensors is a no-op")
        return VisionTransformer(**arch.torchvision_kwargs(), norm_layer=norm_layer)


def default_class_names(num_classes: int) -> tuple[str, ...]:
    return tuple(f"class {i}" for i in range(num_classes))


def make_model(
    module: VisionTransformer, arch: ViTArch, meta: ModelMeta, *, source: str | os.PathLike = ""
) -> StudioModel:
    """Wrap a module, checking that its metadata agrees with its shape."""
    if len(meta.class_names) != arch.num_classes:
        raise StudioError(
            f"{source or meta.name}: {len(meta.class_names)} class names for a head of "
            f"{arch.num_classes} outputs; give one name per output"
        )
    module.eval()
    return StudioModel(module=module, arch=arch, meta=meta)


def arch_from_state_dict(
    state: dict[str, torch.Tensor], num_heads: int, norm_eps: float = 1e-6
) -> ViTArch:
    """Infer the shape of a torchvision ViT from its tensors (the head count is not in them)."""
    conv = state["conv_proj.weight"]
    hidden_dim, _, patch_size, _ = conv.shape
    num_tokens = state["encoder.pos_embedding"].shape[1]
    grid = math.isqrt(num_tokens - 1)
    if grid * grid != num_tokens - 1:
        raise StudioError(
            f"position embedding has {num_tokens - 1} patches, not a square grid; "
            "only square patch grids are supported"
        )
    num_layers = len({k.split(".")[2] for k in state if k.startswith("encoder.layers.")})
    mlp_dim = state["encoder.layers.encoder_layer_0.mlp.0.weight"].shape[0]
    representation_size = None
    if "heads.pre_logits.weight" in state:
        representation_size = state["heads.pre_logits.weight"].shape[0]
    num_classes = state["heads.head.weight"].shape[0]
    return ViTArch(
        image_size=grid * patch_size,
        patch_size=patch_size,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        mlp_dim=mlp_dim,
        num_classes=num_classes,
        representation_size=representation_size,
        norm_eps=norm_eps,
    )


def from_torchvision(module: VisionTransformer, name: str) -> StudioModel:
    """Wrap a torchvision ViT built in code, reading its head count from the module itself.

    It gets placeholder class names and the usual ImageNet preprocessing for its image size;
    checkpoint files go through `checkpoints.load_model` instead, which knows their metadata.
    """
    num_heads = module.encoder.layers[0].self_attention.num_heads
    eps = module.encoder.ln.eps
    arch = arch_from_state_dict(module.state_dict(), num_heads=num_heads, norm_eps=eps)
    meta = ModelMeta(
        name=name,
        class_names=default_class_names(arch.num_classes),
        preprocessing=Preprocessing.for_image_size(arch.image_size),
    )
    return make_model(module, arch, meta)


# --- our file format ---------------------------------------------------------------------------


def _meta_document(model: StudioModel) -> dict[str, Any]:
    pre = model.meta.preprocessing
    return {
        "format": FORMAT_KEY,
        "format_version": FORMAT_VERSION,
        "name": model.meta.name,
        "arch": model.arch.torchvision_kwargs(),
        "norm_eps": model.arch.norm_eps,
        "class_names": list(model.meta.class_names),
        "preprocessing": {
            "resize_size": pre.resize_size,
            "crop_size": pre.crop_size,
            "interpolation": pre.interpolation,
            "mean": list(pre.mean),
            "std": list(pre.std),
        },
        "provenance": model.meta.provenance,
    }


def save_model(model: StudioModel, path: str | os.PathLike) -> Path:
    """Write `model` in our format, atomically (a temp file renamed over the target).

    A full disk or an unwritable folder raises `StudioError` naming `path`; nothing is left.
    """
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {
        name: tensor.detach().to("cpu", torch.float32).contiguous().clone()
        for name, tensor in model.module.state_dict().items()
    }
    metadata = {FORMAT_KEY: json.dumps(_meta_document(model))}
    with atomic_path(path, "the model") as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return path


def read_studio_metadata(path: str | os.PathLike) -> dict[str, Any] | None:
    """Our metadata document if `path` is a safetensors file written by us, else None."""
    try:
        # Only the header is read; numpy's framework keeps torch unimported for it.
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError, ValueError):
        return None
    raw = metadata.get(FORMAT_KEY)
    if raw is None:
        return None
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise StudioError(
            f"{path}: the ViT Studio metadata is not valid JSON ({exc.msg}); re-save the model"
        ) from exc
    return document


def load_studio_model(path: str | os.PathLike) -> StudioModel:
    """Load a model saved by `save_model` (on the CPU, in eval mode)."""
    path = Path(path)
    document = read_studio_metadata(path)
    if document is None:
        raise StudioError(f"{path}: not a ViT Studio model file (no '{FORMAT_KEY}' metadata)")
    try:
        arch = ViTArch(**document["arch"], norm_eps=float(document.get("norm_eps", 1e-6)))
        pre = document["preprocessing"]
        meta = ModelMeta(
            name=document.get("name") or path.stem,
            class_names=tuple(document["class_names"]),
            preprocessing=Preprocessing(
                resize_size=int(pre["resize_size"]),
                crop_size=int(pre["crop_size"]),
                interpolation=pre.get("interpolation", "bilinear"),
                mean=tuple(pre["mean"]),
                std=tuple(pre["std"]),
            ),
            provenance=dict(document.get("provenance", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StudioError(
            f"{path}: the ViT Studio metadata is incomplete ({exc}); re-save the model"
        ) from exc
    import torch
    from safetensors.torch import load_file

    # A shape-only module takes the file's tensors as its parameters: no random initialisation
    # to overwrite and no second copy of the weights.
    with torch.device("meta"):
        module = build_vit(arch)
    try:
        module.load_state_dict(load_file(str(path)), strict=True, assign=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise StudioError(
            f"{path}: tensors do not match the architecture in its metadata ({first}); "
            "re-save the model"
        ) from exc
    return make_model(module, arch, meta, source=path)


def with_meta(model: StudioModel, **changes: Any) -> StudioModel:
    """The same module with some metadata fields replaced."""
    return StudioModel(module=model.module, arch=model.arch, meta=replace(model.meta, **changes))
