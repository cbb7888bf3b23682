"""A training run from a request: the one way `vit-studio train | finetune` and the fine-tune
panel plan, prepare, resume and run a run.

    RunRequest ─ prepare_run ─> PreparedRun ─ run ─> TrainResult

`prepare_run` scans the folder with the split every run uses, plans the settings left open
(`plan`), builds the model (a new one, or a copy of the base model with a new head) and caches
the images; for a resumed run it reads the checkpoint instead and checks that nothing that
decides what the run learns was changed. `run` trains. Both front ends go through here, so the
same folder, base model, seed and settings give the same model bit for bit, whichever ran it, and
a failure is described the same way in both.
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from vit_studio.engine.augment import FLIP_AUTO
from vit_studio.engine.callbacks import Cancel, StageProgress
from vit_studio.engine.checkpoints import load_model
from vit_studio.engine.data import (
    CachedImages,
    FolderScan,
    SkippedFile,
    cache_parts,
    scan_folder,
)
from vit_studio.engine.errors import StudioError, user_error
from vit_studio.engine.model import StudioModel, with_meta
from vit_studio.engine.resources import model_or_default
from vit_studio.engine.training.adapt import prepare_finetune
from vit_studio.engine.training.baseline import pixel_baseline
from vit_studio.engine.training.checkpoint import TrainCheckpoint, load_checkpoint
from vit_studio.engine.training.config import TrainConfig
from vit_studio.engine.training.loop import train
from vit_studio.engine.training.mirror_test import mirror_test
from vit_studio.engine.training.plan import (
    DEFAULT_VAL_SHARE,
    SPLIT_SEED,
    RunPlan,
    config_values,
    plan_finetune,
    plan_train,
    resolve_flip,
)
from vit_studio.engine.training.presets import dataset_mean_std, new_model, preset_arch
from vit_studio.engine.training.progress import TrainCallbacks, TrainPaths, TrainResult
from vit_studio.engine.training.settings import (
    DATA,
    FINETUNE,
    LEARNING,
    RUNTIME,
    SHAPE,
    TRAIN,
    command_arguments,
    setting,
    settings_for,
)

# What to do when a run does not fit in memory.
TRAINING_MEMORY_FIX = "lower the batch size or the image size, or freeze more of the model"


@dataclass(frozen=True)
class RunRequest:
    """What to run: train a new model or fine-tune one on `folder`, or resume the run at `out`.

    `settings` are the values the user chose, by setting name (`settings.SETTINGS`); the others
    are derived (`plan`). A resumed run may only be given runtime settings, and `folder` None
    then means the folder the checkpoint names.
    """

    command: str  # "train" or "finetune"
    folder: Path | None
    out: Path  # the model to write; its checkpoint and metrics go beside it
    settings: Mapping[str, Any] = field(default_factory=dict)
    base_model: Path | None = None  # finetune: the model to start from (None: the bundled one)
    base_num_heads: int | None = None  # its head count, for a file that does not record it
    resume: bool = False

    @property
    def paths(self) -> TrainPaths:
        return TrainPaths.beside(self.out)

    def command_line(self) -> str:
        """The `vit-studio` command that makes this run."""
        words = ["vit-studio", self.command, str(self.folder)]
        if self.base_model is not None:
            words += ["--model", str(self.base_model)]
        if self.base_num_heads is not None:
            words += ["--num-heads", str(self.base_num_heads)]
        words += ["--out", str(self.out), *command_arguments(self.command, self.settings)]
        if self.resume:
            words.append("--resume")
        return shlex.join(words)

    def resume_command(self) -> str:
        """The command that continues this run from its checkpoint."""
        folder = [] if self.folder is None else [str(self.folder)]
        return shlex.join(["vit-studio", self.command, *folder, "--out", str(self.out), "--resume"])


@dataclass
class PrepareCallbacks:
    """What `prepare_run` reports while it works (plain callables, on the caller's thread)."""

    on_scanned: Callable[[FolderScan], None] | None = None
    # Not for a resumed run; once the images are loaded, so that what was measured on them (the
    # mirroring of `flip` auto) is part of the plan.
    on_planned: Callable[[RunPlan], None] | None = None
    progress: StageProgress | None = None  # (what, done, total) while checking and loading


@dataclass(frozen=True)
class PreparedRun:
    """A run ready for `run`: its folder, settings, model and cached images."""

    request: RunRequest
    scan: FolderScan
    plan: RunPlan | None  # None for a resumed run: it keeps its checkpoint's settings
    model: StudioModel
    train_images: CachedImages
    val_images: CachedImages | None
    config: TrainConfig
    provenance: Mapping[str, Any]  # command, dataset and data settings, kept in the model file
    checkpoint: TrainCheckpoint | None  # the checkpoint a resumed run continues
    description: str  # the model for people: where it comes from and its shape
    prepared_at: float = field(default_factory=time.time)

    @property
    def paths(self) -> TrainPaths:
        return self.request.paths

    @property
    def command_line(self) -> str:
        return str(self.provenance["command"])

    @property
    def cache_note(self) -> str:
        """How the images were loaded, for people: decoded now, or reused from the folder's
        cache and what that saved."""
        use = self.train_images.cache
        return use.describe() if use is not None else "images held in memory"

    @property
    def skipped(self) -> tuple[SkippedFile, ...]:
        """Files that passed the scan but no longer decoded when the images were cached."""
        val = self.val_images.skipped if self.val_images is not None else ()
        return self.train_images.skipped + val

    def pixel_baseline(self) -> float | None:
        """Validation accuracy of logistic regression on the raw pixels of the training images
        (`baseline`): what the model must beat to have learned anything; None without
        validation images."""
        if self.val_images is None:
            return None
        classes = self.model.arch.num_classes
        return pixel_baseline(self.train_images, self.val_images, classes)

    def resumable_checkpoint(self) -> Path | None:
        """The checkpoint a resume would continue: the resumed one, or one this run wrote."""
        path = self.paths.checkpoint
        if not path.is_file():
            return None
        ours = self.checkpoint is not None or path.stat().st_mtime >= self.prepared_at
        return path if ours else None


class RunFailed(StudioError):
    """A run stopped by a failure the user can fix; `checkpoint`, when not None, is kept and a
    resume continues from it."""

    def __init__(self, message: str, checkpoint: Path | None) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint


def scan_training_folder(
    folder: str | os.PathLike,
    val_share: float | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: Cancel | None = None,
) -> FolderScan:
    """`data.scan_folder` with the split every run uses (`SPLIT_SEED`, default val share)."""
    share = DEFAULT_VAL_SHARE if val_share is None else val_share
    return scan_folder(folder, val_share=share, seed=SPLIT_SEED, progress=progress, cancel=cancel)


def cache_split(
    scan: FolderScan,
    size: int,
    *,
    progress: StageProgress | None = None,
    cancel: Cancel | None = None,
) -> tuple[CachedImages, CachedImages | None]:
    """The scan's training and validation images at `size` (None: no validation), two views of
    the folder's memory-mapped cache (`data.cache`), decoded only where the folder changed."""
    what = f"loading images at {size} px"
    report = None if progress is None else (lambda d, t: progress(what, d, t))
    parts = [scan.train, scan.val] if scan.val else [scan.train]
    cached = cache_parts(parts, size, root=scan.root, progress=report, cancel=cancel)
    return cached[0], cached[1] if scan.val else None


def prepare_run(
    request: RunRequest,
    callbacks: PrepareCallbacks | None = None,
    cancel: Cancel | None = None,
) -> PreparedRun:
    """Scan, plan and load everything `request` needs (see the module); raises `StudioError`
    for what the user can fix, `Cancelled` when `cancel()` answers True."""
    callbacks = callbacks or PrepareCallbacks()
    for name in request.settings:
        setting(request.command, name)  # a name no setting has is a bug of the front end
    try:
        if request.resume:
            return _prepare_resume(request, callbacks, cancel)
        return _prepare_new(request, callbacks, cancel)
    except (StudioError, KeyboardInterrupt):
        raise
    except Exception as exc:
        known = user_error(exc, "preparing the run", memory_fix=TRAINING_MEMORY_FIX)
        if known is None:
            raise
        raise known from exc


def run(
    prepared: PreparedRun,
    callbacks: TrainCallbacks | None = None,
    cancel: Cancel | None = None,
    *,
    reports_per_epoch: int | None = None,
) -> TrainResult:
    """Train the prepared run (`training.train`), writing beside `request.out`.

    `reports_per_epoch` asks for about that many step reports per epoch (it changes only how
    often the loss is read, never what is learned). A failure the user can fix raises
    `RunFailed`, saying whether the last checkpoint is there to resume from.
    """
    config = prepared.config
    if reports_per_epoch:
        images = len(prepared.train_images.labels)
        steps = max(1, images // min(config.batch_size, images))
        config = replace(config, log_every=max(1, steps // reports_per_epoch))
    try:
        return train(
            prepared.model,
            prepared.train_images,
            prepared.val_images,
            config,
            out=prepared.paths.model,
            callbacks=callbacks,
            cancel=cancel,
            resume=prepared.checkpoint,
            provenance=dict(prepared.provenance),
        )
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        known = user_error(exc, "training", memory_fix=TRAINING_MEMORY_FIX)
        if known is None:
            raise
        raise RunFailed(str(known), prepared.resumable_checkpoint()) from exc


# --- new runs ------------------------------------------------------------------------------------


def _prepare_new(
    request: RunRequest, callbacks: PrepareCallbacks, cancel: Cancel | None
) -> PreparedRun:
    if request.folder is None:
        raise StudioError("choose the folder to train on; only a resumed run can do without one")
    chosen = dict(request.settings)
    base_path = base = None
    if request.command == FINETUNE:
        base_path = model_or_default(request.base_model)
        base = load_model(base_path, num_heads=request.base_num_heads)
    elif "arch" not in chosen:
        raise StudioError(
            "choose an architecture with --arch (lite for 32px images such as CIFAR; tiny, small "
            "or base for 224px photos)"
        )
    scan = _scan(request.folder, chosen.get("val_share"), callbacks, cancel)
    name = request.paths.model.stem
    if base is not None:
        plan = plan_finetune(scan, base.arch, **_planned(request))
        model = with_meta(
            prepare_finetune(base, scan.class_names, image_size=plan.image_size), name=name
        )
        description = f"{base.meta.name} from {base_path}, now {model.arch.describe()}"
        train_images, val_images = _cache(scan, model, callbacks, cancel)
    else:
        shape = {
            entry.target: chosen[entry.name]
            for entry in settings_for(TRAIN, SHAPE)
            if entry.name != "arch" and entry.name in chosen
        }
        arch = preset_arch(chosen["arch"], len(scan.class_names), **shape)
        plan = plan_train(scan, arch.image_size, **_planned(request))
        train_images, val_images = cache_split(
            scan, arch.image_size, progress=callbacks.progress, cancel=cancel
        )
        mean, std = dataset_mean_std(train_images.images)
        model = new_model(
            arch, scan.class_names, mean=mean, std=std, seed=plan.config.seed, name=name
        )
        description = (
            f"ViT '{chosen['arch']}', {arch.describe()}, {model.num_parameters():,} parameters"
        )
    if plan.config.flip == FLIP_AUTO:
        labels = train_images.labels
        plan = resolve_flip(plan, mirror_test(train_images.images, labels, len(scan.class_names)))
    _call(callbacks.on_planned, plan)
    data: dict[str, Any] = {"val_share": plan.val_share, "split_seed": SPLIT_SEED}
    if base_path is not None:
        data["base_model"] = str(base_path)
    return PreparedRun(
        request=request,
        scan=scan,
        plan=plan,
        model=model,
        train_images=train_images,
        val_images=val_images,
        config=plan.config,
        provenance=_provenance(request.command_line(), scan, data),
        checkpoint=None,
        description=description,
    )


def _planned(request: RunRequest) -> dict[str, Any]:
    """The chosen settings a plan takes (the shape of a new model is not one)."""
    return {
        name: value
        for name, value in request.settings.items()
        if setting(request.command, name).kind != SHAPE or request.command == FINETUNE
    }


# --- resumed runs --------------------------------------------------------------------------------


def _prepare_resume(
    request: RunRequest, callbacks: PrepareCallbacks, cancel: Cancel | None
) -> PreparedRun:
    given = [setting(request.command, name) for name in request.settings]
    shape = [entry.option for entry in given if entry.kind == SHAPE]
    if shape or request.base_model is not None:
        flags = ", ".join(shape or ["--model"])
        raise StudioError(f"{flags}: a resumed run keeps its checkpoint's model; drop it")
    checkpoint = load_checkpoint(request.paths.checkpoint)
    data = dict(checkpoint.provenance.get("data", {}))
    saved = config_values(request.command, checkpoint.config)
    saved["val_share"] = float(data.get("val_share", DEFAULT_VAL_SHARE))
    for entry in given:
        value = request.settings[entry.name]
        if entry.kind in (LEARNING, DATA) and saved.get(entry.name) != value:
            raise StudioError(
                f"{checkpoint.path}: the run was started with {entry.name}="
                f"{saved.get(entry.name)!r}; drop {entry.option} to resume it, or start a new "
                "run without --resume"
            )
    folder = request.folder or _checkpoint_folder(checkpoint)
    scan = _scan(folder, saved["val_share"], callbacks, cancel)
    model = checkpoint.model()
    if scan.class_names != model.meta.class_names:
        raise StudioError(
            f"{scan.root}: its classes ({', '.join(scan.class_names)}) are not the ones the run "
            f"was trained on ({', '.join(model.meta.class_names)}); resume on the same folder"
        )
    train_images, val_images = _cache(scan, model, callbacks, cancel)
    runtime = {
        entry.target: request.settings[entry.name] for entry in given if entry.kind == RUNTIME
    }
    provenance = checkpoint.provenance
    command = str(provenance.get("command") or request.command_line())
    return PreparedRun(
        request=request,
        scan=scan,
        plan=None,
        model=model,
        train_images=train_images,
        val_images=val_images,
        config=replace(checkpoint.config, **runtime),
        provenance=_provenance(command, scan, data),
        checkpoint=checkpoint,
        description=f"{model.meta.name}, {model.arch.describe()}, after epoch {checkpoint.epoch}",
    )


def _checkpoint_folder(checkpoint: TrainCheckpoint) -> Path:
    dataset = checkpoint.provenance.get("dataset")
    if not dataset:
        raise StudioError(
            f"{checkpoint.path}: the checkpoint does not say which folder it was trained on; "
            "choose the folder, then resume"
        )
    return Path(dataset)


# --- shared steps --------------------------------------------------------------------------------


def _scan(
    folder: Path, val_share: float | None, callbacks: PrepareCallbacks, cancel: Cancel | None
) -> FolderScan:
    progress = callbacks.progress
    scan = scan_training_folder(
        folder,
        val_share,
        progress=None if progress is None else (lambda d, t: progress("checking images", d, t)),
        cancel=cancel,
    )
    _call(callbacks.on_scanned, scan)
    return scan


def _cache(
    scan: FolderScan, model: StudioModel, callbacks: PrepareCallbacks, cancel: Cancel | None
) -> tuple[CachedImages, CachedImages | None]:
    return cache_split(scan, model.arch.image_size, progress=callbacks.progress, cancel=cancel)


def _provenance(command: str, scan: FolderScan, data: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(
        {"command": command, "dataset": str(scan.root.resolve()), "data": dict(data)}
    )


def _call(callback: Callable[[Any], None] | None, value: Any) -> None:
    if callback is not None:
        callback(value)
