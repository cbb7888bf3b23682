"""Training and fine-tuning on cached image folders: one loop for the CLI and the GUI.

A run keeps the cached uint8 images on the training device (pinned host memory when they do not
fit), cuts each batch by index and augments it there with `augment.BatchAugmenter`, so there are
no loader processes and nothing for a GPU to wait on. AdamW (fused on CUDA), linear warmup then a
per-step cosine, label smoothing, gradient clipping, bf16 autocast on CUDA.

The loop reads numbers back from the device only every `log_every` steps and at epoch ends, so
CUDA steps queue up without host synchronisation. Every `checkpoint_every` epochs it writes,
atomically, everything needed to continue bit-exactly (weights, optimiser, schedule position,
scaler, the torch/CUDA/numpy/Python RNG states, history, config); the sample order and the
augmentation streams restart from (seed, epoch) each epoch, so they need no state. Only tensors
and primitive containers go in, so `torch.load(weights_only=True)` reads it. The
best-by-validation model is saved in our .safetensors format with its training provenance.
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import VisionTransformer

from vit_studio import __version__
from vit_studio.engine.augment import AugmentConfig, BatchAugmenter, normalize_images
from vit_studio.engine.device import resolve_device
from vit_studio.engine.errors import StudioError
from vit_studio.engine.fileio import atomic_path, write_text_atomic
from vit_studio.engine.model import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ModelMeta,
    Preprocessing,
    StudioModel,
    ViTArch,
    build_vit,
    make_model,
    save_model,
)

if TYPE_CHECKING:
    from vit_studio.engine.data import CachedImages

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
CHECKPOINT_FORMAT = "vit_studio.train_checkpoint"
CHECKPOINT_VERSION = 1
# Settings a resumed run may change: they decide where and how fast it runs, not what it learns.
RUNTIME_FIELDS = frozenset(
    {
        "device",
        "precision",
        "compile",
        "max_minutes",
        "log_every",
        "step_metrics",
        "val_every",
        "checkpoint_every",
    }
)
# At most this share of the free GPU memory holds the cached images; beyond it they stay in
# pinned host memory and each batch is copied over.
_DEVICE_DATA_SHARE = 0.5
# A step report is also due when this long has passed, so slow CPU runs still show progress.
_REPORT_SECONDS = 2.0


# --- architectures and new models ---------------------------------------------------------------


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
    for chunk in images.split(4096):
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


# --- fine-tuning -----------------------------------------------------------------------------


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

    The head is replaced by a zero-initialised one with one output per class (zero logits: the
    first steps start from a uniform guess instead of the base's classes). A new `image_size`
    (a multiple of the patch size) resizes the position embeddings bicubically over the patch
    grid and updates the architecture and preprocessing. `freeze` is applied as in
    `apply_freeze`.
    """
    if not class_names:
        raise StudioError("no class names to fine-tune on; point at a folder with class subfolders")
    module = copy.deepcopy(base.module)
    arch = base.arch
    in_features = module.heads.head.in_features
    module.heads.head = nn.Linear(in_features, len(class_names)).to(base.device)
    nn.init.zeros_(module.heads.head.weight)
    nn.init.zeros_(module.heads.head.bias)
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
        provenance={"finetuned_from": base.meta.name},
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


# --- configuration and reports ---------------------------------------------------------------


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides what a run learns, plus how it runs (`RUNTIME_FIELDS`)."""

    epochs: int = 100
    batch_size: int = 128
    lr: float = 5e-4  # peak, reached after warmup; see `default_lr`
    min_lr: float = 1e-6  # where the cosine ends
    weight_decay: float = 0.05  # not applied to biases, norms, position embedding, class token
    warmup_epochs: float = 5.0
    label_smoothing: float = 0.1
    grad_clip: float | None = 1.0  # max global gradient norm; None: no clipping
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0
    freeze: str = "none"  # see `apply_freeze`
    device: str = "auto"
    precision: str = "auto"  # auto: bf16 autocast on CUDA (fp16 + scaler without bf16), fp32 else
    compile: bool = False  # torch.compile model and augmentation: for long GPU runs (~30 s start)
    max_minutes: float | None = None  # stop cleanly (and saved) when the next epoch would not fit
    val_every: int = 1
    checkpoint_every: int = 1
    log_every: int = 50  # steps between reads of the loss from the device
    step_metrics: bool = False  # also write each step report to the metrics file

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "val_every", "checkpoint_every", "log_every"):
            if getattr(self, name) < 1:
                raise StudioError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("lr", "min_lr", "weight_decay", "warmup_epochs"):
            if getattr(self, name) < 0:
                raise StudioError(f"{name} must not be negative, not {getattr(self, name)}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise StudioError(f"label smoothing {self.label_smoothing} must be in [0, 1)")
        if self.precision not in PRECISIONS:
            raise StudioError(
                f"precision '{self.precision}' is unknown; choose one of {', '.join(PRECISIONS)}"
            )
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise StudioError(f"max_minutes must be positive, not {self.max_minutes}")
        if self.freeze not in ("none", "backbone") and not self.freeze.isdigit():
            raise StudioError(
                f"freeze '{self.freeze}' is not understood; use none, backbone, or the number of "
                "last blocks to train"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        clean = {k: v for k, v in values.items() if k in known}
        if "augment" in clean:
            clean["augment"] = AugmentConfig.from_dict(clean["augment"])
        return cls(**clean)


@dataclass(frozen=True)
class StepInfo:
    """Progress every `log_every` steps (or every few seconds); loss and acc over that window.

    With Mixup/CutMix `acc` counts agreement with each sample's dominant label.
    """

    epoch: int  # 1-based
    epochs: int
    step: int  # 1-based within the epoch
    steps_per_epoch: int
    loss: float
    acc: float
    lr: float
    images_per_s: float
    eta_s: float


@dataclass(frozen=True)
class EpochInfo:
    """One finished epoch. Validation fields are None on epochs without validation."""

    epoch: int
    epochs: int
    train_loss: float
    train_acc: float
    val_loss: float | None
    val_acc: float | None
    val_class_acc: tuple[float | None, ...] | None  # None for a class without validation images
    lr: float
    seconds: float
    images_per_s: float
    best: bool  # this epoch's model is the one saved
    confusion: tuple[tuple[int, ...], ...] | None = None  # this epoch's only: not kept in history

    def record(self) -> dict[str, Any]:
        """The JSON-able form kept in history, checkpoints and the metrics file."""
        values = asdict(self)
        values.pop("confusion")
        return values

    @classmethod
    def from_record(cls, values: dict[str, Any]) -> EpochInfo:
        known = {f.name for f in fields(cls)}
        clean = {k: v for k, v in values.items() if k in known}
        if clean.get("val_class_acc") is not None:
            clean["val_class_acc"] = tuple(clean["val_class_acc"])
        return cls(**clean)


@dataclass
class TrainCallbacks:
    """Plain callables the loop calls on its own thread (the GUI adapts them into signals)."""

    on_step: Callable[[StepInfo], None] | None = None
    on_epoch: Callable[[EpochInfo], None] | None = None
    on_note: Callable[[str], None] | None = None  # one-line events: resumed, budget reached...


@dataclass(frozen=True)
class TrainPaths:
    """Where a run writes: the model, its resumable checkpoint and the metrics history."""

    model: Path
    checkpoint: Path
    metrics: Path

    @classmethod
    def beside(cls, model: str | os.PathLike) -> TrainPaths:
        """M.safetensors -> M.checkpoint.pt and M.metrics.jsonl in the same folder."""
        model = Path(model)
        return cls(
            model=model,
            checkpoint=model.with_name(f"{model.stem}.checkpoint.pt"),
            metrics=model.with_name(f"{model.stem}.metrics.jsonl"),
        )


@dataclass(frozen=True)
class TrainResult:
    """How a run ended. status: "completed", "cancelled" or "time budget"."""

    status: str
    epochs_completed: int
    best_val_acc: float | None
    best_epoch: int | None
    history: tuple[EpochInfo, ...]
    paths: TrainPaths | None
    seconds: float


# --- evaluation ------------------------------------------------------------------------------


class EvaluationCancelled(Exception):
    """`cancel()` returned True during `evaluate`."""


@dataclass(frozen=True)
class EvalResult:
    """Per-image results of a model on labelled images, and the summaries derived from them."""

    class_names: tuple[str, ...]
    labels: np.ndarray  # [N] int64, true class per image
    probabilities: np.ndarray  # [N, C] float32 softmax outputs
    loss: float  # mean cross-entropy
    paths: tuple[Path, ...] = ()

    @property
    def predictions(self) -> np.ndarray:
        return self.probabilities.argmax(1)

    @property
    def accuracy(self) -> float:
        """Top-1 accuracy in [0, 1]."""
        return float((self.predictions == self.labels).mean()) if len(self.labels) else 0.0

    @property
    def confusion(self) -> np.ndarray:
        """[C, C] counts: row = true class, column = predicted class."""
        size = len(self.class_names)
        flat = self.labels * size + self.predictions
        return np.bincount(flat, minlength=size * size).reshape(size, size)

    @property
    def support(self) -> np.ndarray:
        """Images per true class."""
        return np.bincount(self.labels, minlength=len(self.class_names))

    @property
    def per_class_accuracy(self) -> np.ndarray:
        """Accuracy per true class; NaN for a class without images."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / self.support

    def to_dict(self) -> dict[str, Any]:
        """JSON-able report: summaries plus every image's prediction."""
        predictions = self.predictions
        return {
            "images": len(self.labels),
            "accuracy": self.accuracy,
            "loss": self.loss,
            "class_names": list(self.class_names),
            "per_class": {
                name: {"accuracy": _finite_or_none(acc), "images": int(n)}
                for name, acc, n in zip(
                    self.class_names, self.per_class_accuracy, self.support, strict=True
                )
            },
            "confusion": self.confusion.tolist(),
            "predictions": [
                {
                    "image": str(self.paths[k]) if self.paths else k,
                    "label": self.class_names[self.labels[k]],
                    "predicted": self.class_names[predictions[k]],
                    "probability": round(float(self.probabilities[k, predictions[k]]), 6),
                }
                for k in range(len(self.labels))
            ],
        }


def evaluate(
    model: StudioModel,
    cached: CachedImages,
    *,
    batch_size: int = 256,
    device: str | None = None,
    precision: str = "auto",
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> EvalResult:
    """Top-1, per-class accuracy, confusion and per-image probabilities of `model` on `cached`.

    Images should be cached at the model's `preprocessing.resize_size`: they are centre-cropped
    to the crop size, as the model's preprocessing does (other sizes are resized to the crop).
    `device` None keeps the model where it is. Labels must index `model.meta.class_names`.
    """
    target = model.device if device is None else resolve_device(device)
    model.to(target)
    _check_labels(model, cached, "evaluation images")
    source = _BatchSource(cached, target)
    pre = model.meta.preprocessing

    def prepare(images: torch.Tensor) -> torch.Tensor:
        size = images.shape[-1]
        if size == pre.resize_size and size > pre.crop_size:
            start = (size - pre.crop_size) // 2
            images = images[..., start : start + pre.crop_size, start : start + pre.crop_size]
        return normalize_images(images, pre.mean, pre.std, model.arch.image_size)

    amp_dtype = autocast_dtype(precision, target, training=False)
    logits, loss = _predict(model.module, source, prepare, batch_size, amp_dtype, progress, cancel)
    return EvalResult(
        class_names=model.meta.class_names,
        labels=cached.labels.numpy(),
        probabilities=torch.softmax(logits, 1).numpy(),
        loss=loss,
        paths=tuple(cached.paths),
    )


@torch.no_grad()
def _predict(
    module: nn.Module,
    source: _BatchSource,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int,
    amp_dtype: torch.dtype | None,
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> tuple[torch.Tensor, float]:
    """(float32 logits [N, C] on the CPU, mean cross-entropy) in eval mode; one sync at the end."""
    was_training = module.training
    module.eval()
    device = source.device
    chunks = []
    loss_sum = torch.zeros((), device=device)
    total = len(source)
    try:
        for start in range(0, total, batch_size):
            if cancel is not None and cancel():
                raise EvaluationCancelled
            index = torch.arange(start, min(start + batch_size, total), device=source.index_device)
            images, labels = source.batch(index)
            with torch.autocast(
                device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None
            ):
                logits = module(prepare(images)).float()
            loss_sum += F.cross_entropy(logits, labels, reduction="sum")
            chunks.append(logits)
            if progress is not None:
                progress(min(start + batch_size, total), total)
    finally:
        module.train(was_training)
    return torch.cat(chunks).cpu(), loss_sum.item() / max(total, 1)


# --- checkpoints -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainCheckpoint:
    """A resumable training state read from disk."""

    path: Path
    state: dict[str, Any]

    @property
    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.state["config"])

    @property
    def epoch(self) -> int:
        """Epochs completed when it was written."""
        return int(self.state["epoch"])

    @property
    def provenance(self) -> dict[str, Any]:
        """What the caller passed to `train` (command, dataset, data settings)."""
        return dict(self.state["provenance"])

    @property
    def history(self) -> tuple[EpochInfo, ...]:
        return tuple(EpochInfo.from_record(r) for r in self.state["history"])

    def model(self) -> StudioModel:
        """The model as it was at this checkpoint, on the CPU."""
        meta = self.state["meta"]
        pre = meta["preprocessing"]
        arch = ViTArch(**self.state["arch"])
        module = build_vit(arch)
        module.load_state_dict(self.state["model"])
        model_meta = ModelMeta(
            name=meta["name"],
            class_names=tuple(meta["class_names"]),
            preprocessing=Preprocessing(
                resize_size=pre["resize_size"],
                crop_size=pre["crop_size"],
                interpolation=pre["interpolation"],
                mean=tuple(pre["mean"]),
                std=tuple(pre["std"]),
            ),
            provenance=dict(meta["provenance"]),
        )
        return make_model(module, arch, model_meta, source=self.path)


def load_checkpoint(path: str | os.PathLike) -> TrainCheckpoint:
    """Read a checkpoint written by `train` (tensors and plain containers only: weights_only)."""
    path = Path(path)
    if not path.is_file():
        raise StudioError(f"{path}: no training checkpoint here; start the run without resuming")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for damaged or foreign files
        raise StudioError(
            f"{path}: not a readable training checkpoint ({type(exc).__name__}); delete it and "
            "start the run again"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise StudioError(f"{path}: not a ViT Studio training checkpoint; point at M.checkpoint.pt")
    if state.get("version") != CHECKPOINT_VERSION:
        raise StudioError(
            f"{path}: checkpoint version {state.get('version')} is not supported by this version "
            "of ViT Studio; start the run again"
        )
    return TrainCheckpoint(path=path, state=state)


def _rng_states() -> dict[str, Any]:
    numpy_state = np.random.get_state()
    states = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(numpy_state[1].astype(np.int64)),
            "pos": int(numpy_state[2]),
            "has_gauss": int(numpy_state[3]),
            "cached_gaussian": float(numpy_state[4]),
        },
        "python": random.getstate(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None,
    }
    return states


def _restore_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    numpy_state = states["numpy"]
    np.random.set_state(
        (
            "MT19937",
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    if states["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _model_document(model: StudioModel) -> dict[str, Any]:
    return {
        "name": model.meta.name,
        "class_names": list(model.meta.class_names),
        "preprocessing": asdict(model.meta.preprocessing),
        "provenance": model.meta.provenance,
    }


# --- the loop ----------------------------------------------------------------------------------


class _BatchSource:
    """Cached images where batches are cut from: on the device when they fit, else pinned."""

    def __init__(self, data: CachedImages, device: torch.device) -> None:
        self.device = device
        on_device = True
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            on_device = data.images.nbytes < _DEVICE_DATA_SHARE * free
        self.index_device = device if on_device else torch.device("cpu")
        if on_device:
            self.images = data.images.to(device)
            self.labels = data.labels.to(device)
        else:
            self.images = data.images.pin_memory()
            self.labels = data.labels.pin_memory()

    def __len__(self) -> int:
        return self.images.shape[0]

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images and labels at `index` (a tensor on `index_device`), on the device."""
        if self.index_device == self.device:
            return self.images[index], self.labels[index]
        # Gathered straight into pinned memory so the copy runs asynchronously; the caching host
        # allocator keeps the buffer alive until the copy has finished.
        images = torch.empty(
            (len(index), *self.images.shape[1:]), dtype=torch.uint8, pin_memory=True
        )
        torch.index_select(self.images, 0, index, out=images)
        labels = self.labels[index].pin_memory()
        return images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)


def autocast_dtype(
    precision: str, device: torch.device, *, training: bool = True
) -> torch.dtype | None:
    """The autocast dtype for `precision` on `device`; None means plain fp32.

    auto: bf16 on CUDA (fp16 on GPUs without bf16). On the CPU, bf16 only for training and only
    on CPUs with native bf16 instructions (AVX512-BF16 / AMX), where it measured 1.2-1.7x
    faster per step (benchmarks/bench_training.py); elsewhere it is slower than fp32. CPU
    evaluation stays fp32 so its probabilities match `analysis` exactly.
    """
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "cpu" and training and _cpu_has_bf16():
            return torch.bfloat16
        return None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def _cpu_has_bf16() -> bool:
    # Private but long-standing torch helpers; absent ones mean "no".
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def _lr_at(step: int, config: TrainConfig, total_steps: int, warmup_steps: int) -> float:
    """Linear warmup to the peak over `warmup_steps`, then cosine down to `min_lr`."""
    if step < warmup_steps:
        return config.lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return config.min_lr + (config.lr - config.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _param_groups(module: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weight matrices only; not on biases, norms, position embedding or token."""
    decay, no_decay = [], []
    for name, parameter in module.named_parameters():
        if not parameter.requires_grad:
            continue
        if parameter.ndim <= 1 or name in ("class_token", "encoder.pos_embedding"):
            no_decay.append(parameter)
        else:
            decay.append(parameter)
    if not decay and not no_decay:
        raise StudioError("every parameter is frozen; use --freeze none, backbone or a number")
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return [group for group in groups if group["params"]]


def _epoch_seed(seed: int, epoch: int, stream: int) -> int:
    """A distinct seed per run seed, epoch and random stream (0: sample order, 1: augmentation)."""
    return (seed * 100_003 + epoch) * 2 + stream


def _check_labels(model: StudioModel, data: CachedImages, what: str) -> None:
    if len(data.labels) == 0:
        raise StudioError(f"no {what}; add images to the class folders")
    highest = int(data.labels.max())
    if highest >= model.arch.num_classes or int(data.labels.min()) < 0:
        raise StudioError(
            f"{what} have label {highest} but the model has {model.arch.num_classes} classes; "
            "rescan the folder for this model"
        )


def _check_resumable(checkpoint: TrainCheckpoint, config: TrainConfig, model: StudioModel) -> None:
    saved = checkpoint.config.to_dict()
    for name, value in config.to_dict().items():
        if name not in RUNTIME_FIELDS and saved.get(name) != value:
            raise StudioError(
                f"{checkpoint.path}: the run was started with {name}={saved.get(name)!r}, not "
                f"{value!r}; resume with the same settings"
            )
    names = tuple(checkpoint.state["meta"]["class_names"])
    if names != model.meta.class_names:
        raise StudioError(
            f"{checkpoint.path}: the run was trained on classes {', '.join(names)}, but the folder "
            f"has {', '.join(model.meta.class_names)}; resume on the same folder"
        )


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def train(
    model: StudioModel,
    train_data: CachedImages,
    val_data: CachedImages | None,
    config: TrainConfig,
    *,
    out: str | os.PathLike | None = None,
    callbacks: TrainCallbacks | None = None,
    cancel: Callable[[], bool] | None = None,
    resume: TrainCheckpoint | None = None,
    provenance: dict[str, Any] | None = None,
) -> TrainResult:
    """Train `model.module` in place on `train_data`, validating on `val_data` (optional).

    With `out`, the best-by-validation model (the latest, without validation data) is saved there,
    a resumable checkpoint and a metrics history (JSON lines) beside it (`TrainPaths.beside`).
    `cancel()` is polled every step: the run then stops and returns with status "cancelled",
    leaving the last checkpoint as it was. KeyboardInterrupt propagates; every file is written
    atomically, so none is ever half-written. `resume` continues a checkpoint exactly (the same
    weights as an uninterrupted run on the same device); `config` must match the checkpoint's
    except for `RUNTIME_FIELDS`. `config.freeze` other than "none" decides what trains; "none"
    keeps the model's own `requires_grad` flags (as `prepare_finetune` set them). `provenance`
    (command, dataset, data settings) is stored in the checkpoint and the saved model's metadata.
    """
    run = _Run(model, train_data, val_data, config, out, callbacks or TrainCallbacks(), provenance)
    if resume is not None:
        run.restore(resume)
    else:
        run.start_fresh()
    return run.run(cancel)


class _Run:
    """The state of one training run; `train` is its only user."""

    def __init__(
        self,
        model: StudioModel,
        train_data: CachedImages,
        val_data: CachedImages | None,
        config: TrainConfig,
        out: str | os.PathLike | None,
        callbacks: TrainCallbacks,
        provenance: dict[str, Any] | None,
    ) -> None:
        self.started = time.monotonic()
        self.model, self.config, self.callbacks = model, config, callbacks
        self.provenance = dict(provenance or {})
        self.paths = TrainPaths.beside(out) if out is not None else None
        _check_labels(model, train_data, "training images")
        if val_data is not None and len(val_data.labels) == 0:
            val_data = None
        if val_data is not None:
            _check_labels(model, val_data, "validation images")
        self.val_labels = val_data.labels.numpy() if val_data is not None else None

        self.device = device = resolve_device(config.device)
        self.module = model.module.to(device)
        self.forward = torch.compile(self.module) if config.compile else self.module
        self.train_source = _BatchSource(train_data, device)
        self.val_source = _BatchSource(val_data, device) if val_data is not None else None
        self.amp_dtype = autocast_dtype(config.precision, device)
        pre = model.meta.preprocessing
        self.augmenter = BatchAugmenter(
            config.augment,
            out_size=model.arch.image_size,
            mean=pre.mean,
            std=pre.std,
            num_classes=model.arch.num_classes,
            device=device,
            compile=config.compile,
        )
        count = len(self.train_source)
        self.batch_size = min(config.batch_size, count)
        self.steps_per_epoch = count // self.batch_size  # last partial batch dropped: fixed shapes
        self.total_steps = config.epochs * self.steps_per_epoch
        self.warmup_steps = min(
            round(config.warmup_epochs * self.steps_per_epoch), self.total_steps
        )

        self.history: list[EpochInfo] = []
        self.best_acc: float | None = None
        self.best_epoch: int | None = None
        self.start_epoch = 0

    # --- setting up ---------------------------------------------------------------------------

    def start_fresh(self) -> None:
        config = self.config
        if config.freeze != "none":
            apply_freeze(self.module, config.freeze)
        torch.manual_seed(config.seed)
        np.random.seed(config.seed % 2**32)
        random.seed(config.seed)
        self._make_optimizer()
        if self.paths is not None:
            write_text_atomic(self.paths.metrics, "")

    def restore(self, checkpoint: TrainCheckpoint) -> None:
        _check_resumable(checkpoint, self.config, self.model)
        state = checkpoint.state
        self.provenance = checkpoint.provenance | self.provenance
        self.module.load_state_dict(state["model"])
        frozen = set(state["frozen"])
        for name, parameter in self.module.named_parameters():
            parameter.requires_grad_(name not in frozen)
        self._make_optimizer()
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except ValueError as exc:
            raise StudioError(
                f"{checkpoint.path}: the optimiser state does not fit this model ({exc}); start "
                "the run again"
            ) from exc
        if self.scaler is not None and state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        _restore_rng_states(state["rng"])
        self.history = list(checkpoint.history)
        self.best_acc, self.best_epoch = state["best_val_acc"], state["best_epoch"]
        self.start_epoch = checkpoint.epoch
        if self.paths is not None:
            _truncate_metrics(self.paths.metrics, self.history)
        _note(self.callbacks, f"resumed after epoch {self.start_epoch} of {self.config.epochs}")

    def _make_optimizer(self) -> None:
        config, device = self.config, self.device
        self.optimizer = torch.optim.AdamW(
            _param_groups(self.module, config.weight_decay),
            lr=config.lr,
            **({"fused": True} if device.type == "cuda" else {}),
        )
        self.scaler = torch.amp.GradScaler(device.type) if self.amp_dtype == torch.float16 else None

    # --- the loop -------------------------------------------------------------------------------

    def run(self, cancel: Callable[[], bool] | None) -> TrainResult:
        config = self.config
        trainable = sum(p.numel() for p in self.module.parameters() if p.requires_grad)
        total = sum(p.numel() for p in self.module.parameters())
        precision = "fp32" if self.amp_dtype is None else f"{self.amp_dtype}"[6:] + " autocast"
        _note(
            self.callbacks,
            f"training on {_device_name(self.device)} in {precision}: {self.steps_per_epoch} "
            f"steps of {self.batch_size} images per epoch, {trainable:,} of {total:,} "
            "parameters trainable",
        )
        self.session_steps = 0
        self.session_started = time.monotonic()
        status = "completed"
        for epoch in range(self.start_epoch, config.epochs):
            epoch_started = time.monotonic()
            stopped = self._train_epoch(epoch, cancel)
            if stopped is not None:
                status = stopped
                if stopped == "time budget":
                    _note(
                        self.callbacks,
                        f"time budget ran out during epoch {epoch + 1}; the files on disk are "
                        "from the last completed epoch",
                    )
                break
            if self._finish_epoch(epoch, epoch_started):
                status = "time budget"
                _note(
                    self.callbacks,
                    f"time budget of {config.max_minutes:g} min reached after epoch {epoch + 1}",
                )
                break
        return TrainResult(
            status=status,
            epochs_completed=self.history[-1].epoch if self.history else 0,
            best_val_acc=self.best_acc,
            best_epoch=self.best_epoch,
            history=tuple(self.history),
            paths=self.paths,
            seconds=time.monotonic() - self.started,
        )

    def _out_of_time(self, extra_s: float = 0.0) -> bool:
        if self.config.max_minutes is None:
            return False
        return time.monotonic() - self.started + extra_s > self.config.max_minutes * 60.0

    def _train_epoch(self, epoch: int, cancel: Callable[[], bool] | None) -> str | None:
        """One epoch of steps; returns why it stopped early, or None when it ran to the end."""
        config, device, module = self.config, self.device, self.module
        module.train()
        # The sample order and the augmentation streams are functions of (seed, epoch): a resumed
        # run repeats them without any saved generator state.
        order = torch.randperm(
            len(self.train_source),
            generator=torch.Generator().manual_seed(_epoch_seed(config.seed, epoch, 0)),
        ).to(self.train_source.index_device)
        self.augmenter.reseed(_epoch_seed(config.seed, epoch, 1))
        batch_size = self.batch_size
        # Summed on the device and read back once per report window.
        window_loss = torch.zeros((), device=device)
        window_correct = torch.zeros((), device=device, dtype=torch.int64)
        window_steps, window_started = 0, time.monotonic()
        self.epoch_loss, self.epoch_correct = 0.0, 0
        for step in range(self.steps_per_epoch):
            if cancel is not None and cancel():
                return "cancelled"
            if self._out_of_time():
                return "time budget"
            global_step = epoch * self.steps_per_epoch + step
            self.lr = _lr_at(global_step, config, self.total_steps, self.warmup_steps)
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr
            images, labels = self.train_source.batch(
                order[step * batch_size : (step + 1) * batch_size]
            )
            inputs, targets = self.augmenter(images, labels)
            logits, loss = self._step(inputs, targets)
            with torch.no_grad():
                hard = targets if targets.ndim == 1 else targets.argmax(1)
                window_loss += loss.detach()
                window_correct += (logits.argmax(1) == hard).sum()
            window_steps += 1
            self.session_steps += 1

            last = step == self.steps_per_epoch - 1
            if (
                last
                or window_steps >= config.log_every
                or time.monotonic() - window_started >= _REPORT_SECONDS
            ):
                self._report(epoch, step, window_loss, window_correct, window_steps, window_started)
                window_loss.zero_()
                window_correct.zero_()
                window_steps, window_started = 0, time.monotonic()
        return None

    def _step(
        self, inputs: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        config, optimizer, scaler = self.config, self.optimizer, self.scaler
        amp = self.amp_dtype
        with torch.autocast(self.device.type, dtype=amp or torch.float32, enabled=amp is not None):
            logits = self.forward(inputs)
        loss = F.cross_entropy(logits.float(), targets, label_smoothing=config.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            if config.grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(self.module.parameters(), config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            if config.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.module.parameters(), config.grad_clip)
            optimizer.step()
        return logits, loss

    def _report(
        self,
        epoch: int,
        step: int,
        window_loss: torch.Tensor,
        window_correct: torch.Tensor,
        window_steps: int,
        window_started: float,
    ) -> None:
        """Read the window's sums back (the only host-device synchronisation) and report them."""
        loss_sum, correct = torch.stack(
            [window_loss, window_correct.to(window_loss.dtype)]
        ).tolist()
        mean_loss = loss_sum / window_steps
        if not math.isfinite(mean_loss):
            raise StudioError(
                f"training diverged in epoch {epoch + 1} (loss is {mean_loss}); restart with a "
                "lower learning rate (--lr) or --precision fp32"
            )
        self.epoch_loss += loss_sum
        self.epoch_correct += int(correct)
        if self.callbacks.on_step is None and not (self.config.step_metrics and self.paths):
            return
        now = time.monotonic()
        done = epoch * self.steps_per_epoch + step + 1
        info = StepInfo(
            epoch=epoch + 1,
            epochs=self.config.epochs,
            step=step + 1,
            steps_per_epoch=self.steps_per_epoch,
            loss=mean_loss,
            acc=correct / (window_steps * self.batch_size),
            lr=self.lr,
            images_per_s=window_steps * self.batch_size / max(now - window_started, 1e-9),
            eta_s=(self.total_steps - done) * (now - self.session_started) / self.session_steps,
        )
        if self.config.step_metrics and self.paths is not None:
            _append_metrics(self.paths.metrics, {"kind": "step"} | asdict(info))
        if self.callbacks.on_step is not None:
            self.callbacks.on_step(info)

    def _finish_epoch(self, epoch: int, epoch_started: float) -> bool:
        """Validate, save and report a completed epoch; True when the time budget ends the run."""
        config = self.config
        train_seconds = time.monotonic() - epoch_started
        done = epoch + 1
        last = done == config.epochs
        # Stop now if another epoch would overrun the budget, so this one is saved in full.
        out_of_time = not last and self._out_of_time(extra_s=train_seconds)
        result = None
        if self.val_source is not None and (done % config.val_every == 0 or last or out_of_time):
            result = self._validate()
        improved = result is not None and (self.best_acc is None or result.accuracy > self.best_acc)
        if improved:
            self.best_acc, self.best_epoch = result.accuracy, done
        checkpoint = done % config.checkpoint_every == 0 or last or out_of_time
        # Without validation data the latest model is the one kept.
        keep = improved or (self.val_source is None and checkpoint)
        steps = self.steps_per_epoch
        info = EpochInfo(
            epoch=done,
            epochs=config.epochs,
            train_loss=self.epoch_loss / steps,
            train_acc=self.epoch_correct / (steps * self.batch_size),
            val_loss=result.loss if result is not None else None,
            val_acc=result.accuracy if result is not None else None,
            val_class_acc=(
                tuple(_finite_or_none(a) for a in result.per_class_accuracy) if result else None
            ),
            lr=self.lr,
            seconds=time.monotonic() - epoch_started,
            images_per_s=steps * self.batch_size / max(train_seconds, 1e-9),
            best=keep,
            confusion=tuple(map(tuple, result.confusion.tolist())) if result else None,
        )
        self.history.append(info)
        if self.paths is not None:
            if keep:
                self._save_model(info)
            if checkpoint:
                self._save_checkpoint(done)
            _append_metrics(self.paths.metrics, {"kind": "epoch"} | info.record())
        if self.callbacks.on_epoch is not None:
            self.callbacks.on_epoch(info)
        return out_of_time

    def _validate(self) -> EvalResult:
        pre, size = self.model.meta.preprocessing, self.model.arch.image_size

        def prepare(images: torch.Tensor) -> torch.Tensor:
            return normalize_images(images, pre.mean, pre.std, size)

        logits, loss = _predict(
            self.module, self.val_source, prepare, 2 * self.batch_size, self.amp_dtype
        )
        return EvalResult(
            class_names=self.model.meta.class_names,
            labels=self.val_labels,
            probabilities=torch.softmax(logits, 1).numpy(),
            loss=loss,
        )

    # --- files ----------------------------------------------------------------------------------

    def _save_model(self, info: EpochInfo) -> None:
        training = {
            "config": self.config.to_dict(),
            "epochs_completed": info.epoch,
            "epochs_planned": self.config.epochs,
            "val_acc": info.val_acc,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "torch": torch.__version__,
            "vit_studio": __version__,
            "device": _device_name(self.device),
        }
        model = self.model
        provenance = model.meta.provenance | self.provenance | {"training": training}
        meta = replace(model.meta, provenance=provenance)
        save_model(StudioModel(module=self.module, arch=model.arch, meta=meta), self.paths.model)

    def _save_checkpoint(self, epoch: int) -> None:
        state = {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "epoch": epoch,
            "model": {k: v.detach().cpu() for k, v in self.module.state_dict().items()},
            "frozen": [n for n, p in self.module.named_parameters() if not p.requires_grad],
            "arch": asdict(self.model.arch),
            "meta": _model_document(self.model),
            "config": self.config.to_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": _rng_states(),
            "history": [h.record() for h in self.history],
            "best_val_acc": self.best_acc,
            "best_epoch": self.best_epoch,
            "provenance": self.provenance,
        }
        with atomic_path(self.paths.checkpoint) as tmp:
            torch.save(state, tmp)


def _note(callbacks: TrainCallbacks, message: str) -> None:
    if callbacks.on_note is not None:
        callbacks.on_note(message)


def _append_metrics(path: Path, record: dict[str, Any]) -> None:
    # One write of one line: an interrupt lands before or after it, never inside.
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, allow_nan=False) + "\n")


def _truncate_metrics(path: Path, history: list[EpochInfo]) -> None:
    """Keep the metrics lines up to the resumed checkpoint; later ones will be written again."""
    epochs = len(history)
    kept = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and record.get("epoch", epochs + 1) <= epochs:
                kept.append(line + "\n")
    if not kept:  # missing or foreign file: rebuild the epoch lines from the checkpoint
        kept = [json.dumps({"kind": "epoch"} | h.record()) + "\n" for h in history]
    write_text_atomic(path, "".join(kept))
