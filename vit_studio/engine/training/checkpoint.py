"""The resumable training checkpoint: written atomically, read back, checked against a run.

It holds everything needed to continue bit-exactly: weights, optimiser, schedule position,
scaler, the torch/CUDA/numpy/Python RNG states, history, config. Only tensors and primitive
containers go in, so `torch.load(weights_only=True)` reads it.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from vit_studio.engine.errors import StudioError
from vit_studio.engine.fileio import atomic_path
from vit_studio.engine.model import (
    ModelMeta,
    Preprocessing,
    StudioModel,
    ViTArch,
    build_vit,
    make_model,
)
from vit_studio.engine.training.config import RUNTIME_FIELDS, TrainConfig
from vit_studio.engine.training.progress import EpochInfo

CHECKPOINT_FORMAT = "vit_studio.train_checkpoint"
CHECKPOINT_VERSION = 1


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

    @property
    def seconds(self) -> float:
        """The run's wall time up to this checkpoint, all sessions together (checkpoints written
        before it was recorded: the time of their epochs)."""
        recorded = self.state.get("seconds")
        return float(recorded) if recorded is not None else sum(h.seconds for h in self.history)

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


def check_resumable(checkpoint: TrainCheckpoint, config: TrainConfig, model: StudioModel) -> None:
    """Refuse to resume with settings that change what the run learns, or with other classes."""
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


def save_checkpoint(
    path: Path,
    *,
    epoch: int,
    model: StudioModel,
    module: nn.Module,
    config: TrainConfig,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    history: Sequence[EpochInfo],
    best_val_acc: float | None,
    best_epoch: int | None,
    provenance: dict[str, Any],
    seconds: float,
    best_val_loss: float | None = None,
    start_right: list[bool] | None = None,
) -> None:
    """Write, atomically, everything needed to continue after `epoch` bit-exactly.

    `seconds` is the run's wall time up to here, all sessions together, so a resumed run can
    report how long the whole run took.

    `module` holds the weights being trained; `model` gives the architecture and metadata. Only
    tensors and primitive containers go in, so `load_checkpoint` reads it with weights_only.
    """
    state = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "epoch": epoch,
        "model": {k: v.detach().cpu() for k, v in module.state_dict().items()},
        "frozen": [n for n, p in module.named_parameters() if not p.requires_grad],
        "arch": asdict(model.arch),
        "meta": _model_document(model),
        "config": config.to_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else None,
        "rng": _rng_states(),
        "history": [h.record() for h in history],
        "best_val_acc": best_val_acc,
        "best_val_loss": best_val_loss,
        "start_right": start_right,
        "best_epoch": best_epoch,
        "provenance": provenance,
        "seconds": seconds,
    }
    with atomic_path(path, "the training checkpoint") as tmp:
        torch.save(state, tmp)


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


def restore_rng_states(states: dict[str, Any]) -> None:
    """Put back the torch, numpy, Python (and CUDA) generators a checkpoint saved."""
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
