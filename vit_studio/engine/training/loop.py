"""The training loop: `train` and the state of one run.

A run keeps the cached uint8 images on the training device (`source.BatchSource`), cuts each
batch by index and augments it there with `augment.BatchAugmenter`, so there are no loader
processes and nothing for a GPU to wait on. AdamW (fused on CUDA), linear warmup then a per-step
cosine, label smoothing, gradient clipping, bf16 autocast on CUDA.

The loop reads numbers back from the device only every `log_every` steps and at epoch ends, so
CUDA steps queue up without host synchronisation. Every `checkpoint_every` epochs it writes a
resumable checkpoint (`checkpoint.save_checkpoint`); the sample order and the augmentation
streams restart from (seed, epoch) each epoch, so they need no state. The best-by-validation
model is saved in our .safetensors format with its training provenance, and every epoch (and
optionally every step report) is appended to a JSON-lines metrics file.

Started by torchrun, every process runs this loop on its share of each global batch
(`distributed`), DistributedDataParallel averaging the gradients; rank 0 alone writes and
reports, and what depends on its clock or cancel flag (stopping, step reports, re-planned
epochs) is its decision, broadcast, so the ranks always agree.
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from vit_studio.engine.augment import BatchAugmenter
from vit_studio.engine.callbacks import Cancel
from vit_studio.engine.device import device_label, resolve_device
from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import StudioModel
from vit_studio.engine.training.adapt import apply_freeze
from vit_studio.engine.training.checkpoint import (
    TrainCheckpoint,
    check_resumable,
    restore_rng_states,
    save_checkpoint,
)
from vit_studio.engine.training.config import TrainConfig
from vit_studio.engine.training.distributed import current
from vit_studio.engine.training.evaluation import EvalResult, finite_or_none
from vit_studio.engine.training.keeping import KeptModel, last_progress
from vit_studio.engine.training.outputs import RunFiles
from vit_studio.engine.training.precision import autocast_dtype
from vit_studio.engine.training.progress import (
    EpochInfo,
    RunStatus,
    StepInfo,
    TrainCallbacks,
    TrainPaths,
    TrainResult,
)
from vit_studio.engine.training.schedule import (
    FIT_TIMED_EPOCHS,
    epoch_seed,
    fitted_epochs,
    lr_at,
)
from vit_studio.engine.training.source import BatchSource, check_labels
from vit_studio.engine.training.start import StartingPoint, choose_start
from vit_studio.engine.training.steps import (
    make_optimizer,
    make_scaler,
    optimisation_step,
    set_lr,
)
from vit_studio.engine.training.validation import plain_inputs, validate

if TYPE_CHECKING:
    from vit_studio.engine.data import CachedImages

# A step report is also due when this long has passed, so slow CPU runs still show progress.
_REPORT_SECONDS = 2.0


def train(
    model: StudioModel,
    train_data: CachedImages,
    val_data: CachedImages | None,
    config: TrainConfig,
    *,
    out: str | os.PathLike | None = None,
    callbacks: TrainCallbacks | None = None,
    cancel: Cancel | None = None,
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

    In a process group (torchrun), every rank calls this with the same arguments; only rank 0
    writes `out` and calls `callbacks` and `cancel`.
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
        self.group = group = current()
        if not group.is_main:  # the other ranks stay silent
            callbacks = TrainCallbacks()
        self.model, self.config, self.callbacks = model, config, callbacks
        self.provenance = dict(provenance or {})
        self.paths = TrainPaths.beside(out) if out is not None else None
        self.files = RunFiles(self.paths) if self.paths is not None and group.is_main else None
        check_labels(model, train_data, "training images")
        if val_data is not None and len(val_data.labels) == 0:
            val_data = None
        if val_data is not None:
            check_labels(model, val_data, "validation images")
        self.val_labels = val_data.labels.numpy() if val_data is not None else None

        self.device = device = group.device(resolve_device(config.device))
        self.module = model.module.to(device)
        self.train_source = BatchSource(train_data, device)
        self.val_source = BatchSource(val_data, device) if val_data is not None else None
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
        self.local_batch = group.local_batch(self.batch_size)
        self.steps_per_epoch = count // self.batch_size  # last partial batch dropped: fixed shapes
        self.total_steps = config.epochs * self.steps_per_epoch
        self.warmup_steps = min(
            round(config.warmup_epochs * self.steps_per_epoch), self.total_steps
        )

        self.history: list[EpochInfo] = []
        self.kept = KeptModel()
        self.start: StartingPoint | None = None
        self.start_epoch = 0
        self.earlier_seconds = 0.0

    # --- setting up ---------------------------------------------------------------------------

    def start_fresh(self) -> None:
        config = self.config
        if config.freeze != "none":
            apply_freeze(self.module, config.freeze)
        torch.manual_seed(config.seed)
        np.random.seed(config.seed % 2**32)
        random.seed(config.seed)
        if config.probe_head or self._has_base_head:
            self.start = choose_start(
                self.module, self.train_source, self.val_source, plain_inputs(self.model),
                2 * self.batch_size, has_base_head=self._has_base_head,
                fit_probe=config.probe_head,
            )  # fmt: skip
            self.provenance["start"] = self.start.record()
            _note(self.callbacks, self.start.describe())
        self._make_optimizer()
        if config.keep_start and self.val_source is not None:
            self._keep_start()
        if self.callbacks.on_start is not None:
            self.callbacks.on_start(self.start)

    @property
    def _has_base_head(self) -> bool:
        return "head_from_base" in self.model.meta.provenance

    def _keep_start(self) -> None:
        """Validate the model before the first step and keep it (epoch 0) until an epoch beats
        it: a fine-tune ends no worse on validation than where it started."""
        result = self._validate()
        if self.callbacks.on_validated is not None:
            self.callbacks.on_validated(result)
        self.kept.keep_start(result)
        if self.files is not None:
            self.files.save_model(
                self.model, self.module, self.config, 0, result.accuracy, self.provenance,
                self.device, world_size=self.group.world_size,
            )  # fmt: skip

    def restore(self, checkpoint: TrainCheckpoint) -> None:
        check_resumable(checkpoint, self.config, self.model)
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
        restore_rng_states(state["rng"])
        self.history = list(checkpoint.history)
        self.kept.restore(state)
        self.start_epoch = checkpoint.epoch
        self.earlier_seconds = checkpoint.seconds
        if self.files is not None:
            self.files.resume(self.history)
        _note(self.callbacks, f"resumed after epoch {self.start_epoch} of {self.config.epochs}")

    def _make_optimizer(self) -> None:
        self.optimizer = make_optimizer(self.module, self.config, self.device)
        self.scaler = make_scaler(self.device, self.amp_dtype)

    # --- the loop -------------------------------------------------------------------------------

    def run(self, cancel: Cancel | None) -> TrainResult:
        config = self.config
        trainable = sum(p.numel() for p in self.module.parameters() if p.requires_grad)
        total = sum(p.numel() for p in self.module.parameters())
        precision = "fp32" if self.amp_dtype is None else f"{self.amp_dtype}"[6:] + " autocast"
        where = device_label(self.device)
        shares = ""
        if self.group.distributed:
            where = f"{self.group.world_size} processes ({where} on rank 0)"
            shares = f" ({self.local_batch} per process)"
        _note(
            self.callbacks,
            f"training on {where} in {precision}: {self.steps_per_epoch} steps of "
            f"{self.batch_size} images{shares} per epoch, {trainable:,} of {total:,} "
            "parameters trainable",
        )
        # Wrapped only now: the probe head and a resumed state are in place, and DDP copies
        # rank 0's weights to every rank as it wraps.
        self.forward = self.group.wrap(self.module, self.device)
        if config.compile:
            self.forward = torch.compile(self.forward)
        self.session_steps = 0
        self.session_started = time.monotonic()
        status = RunStatus.COMPLETED
        epoch_seconds: list[float] = []
        epoch = self.start_epoch
        while epoch < self.config.epochs:
            epoch_started = time.monotonic()
            stopped = self._train_epoch(epoch, cancel)
            if stopped is not None:
                status = stopped
                if stopped == RunStatus.TIME_BUDGET:
                    _note(
                        self.callbacks,
                        f"time budget ran out during epoch {epoch + 1}; the files on disk are "
                        "from the last completed epoch",
                    )
                break
            stopped = self._finish_epoch(epoch, epoch_started)
            if stopped is not None:
                status = stopped
                _note(self.callbacks, self._stop_note(stopped, epoch + 1))
                break
            epoch_seconds.append(time.monotonic() - epoch_started)
            if config.fit_epochs and len(epoch_seconds) > FIT_TIMED_EPOCHS:
                timed = epoch_seconds[1:]
                self._fit_epochs(epoch + 1, sum(timed) / len(timed))
            epoch += 1
        if self.files is not None:
            self.files.record_end(status, self.history[-1].epoch if self.history else 0)
        return TrainResult(
            status=status,
            epochs_completed=self.history[-1].epoch if self.history else 0,
            best_val_acc=self.kept.acc,
            best_epoch=self.kept.epoch,
            history=tuple(self.history),
            paths=self.paths,
            seconds=self._elapsed(),
            start=self.start or _recorded_start(self.provenance),
        )

    def _stop_note(self, status: RunStatus, done: int) -> str:
        if status == RunStatus.TIME_BUDGET:
            return f"time budget of {self.config.max_minutes:g} min reached after epoch {done}"
        return (
            f"stopped early after epoch {done}: validation has not improved for "
            f"{done - last_progress(self.history)} epochs (patience {self.config.patience}); "
            f"kept {self.kept.describe()}"
        )

    def _fit_epochs(self, done: int, epoch_seconds: float) -> None:
        """Cut the planned epochs to what fits the rest of the time budget (never add any).

        Only the cosine's length changes: the warmup is counted in epochs from the start, so a
        run fitted while still warming up is the same as one started with the fitted epochs.
        Later cuts, when epochs slow down, make the cosine step down a little early.
        """
        config = self.config
        left = config.max_minutes * 60.0 - (time.monotonic() - self.started)
        first = len(self.history) - self.start_epoch == 1 + FIT_TIMED_EPOCHS
        epochs = fitted_epochs(config.epochs, done, epoch_seconds, left, first_plan=first)
        epochs = self.group.decide(epochs or 0) or None  # rank 0's clock plans for every rank
        if epochs is None:
            return
        self.config = replace(config, epochs=epochs)
        self.total_steps = epochs * self.steps_per_epoch
        self.warmup_steps = min(self.warmup_steps, self.total_steps)
        _note(
            self.callbacks,
            f"{epoch_seconds:.1f} s per epoch: planned {epochs} epochs instead of "
            f"{config.epochs} to end within {config.max_minutes:g} min",
        )

    def _stop_reason(self, cancel: Cancel | None) -> RunStatus | None:
        """Why the run must stop before the next step (rank 0's answer, on every rank)."""
        code = 0
        if cancel is not None and cancel():
            code = 1
        elif self._out_of_time():
            code = 2
        return (None, RunStatus.CANCELLED, RunStatus.TIME_BUDGET)[self.group.decide(code)]

    def _out_of_time(self, extra_s: float = 0.0) -> bool:
        if self.config.max_minutes is None:
            return False
        return time.monotonic() - self.started + extra_s > self.config.max_minutes * 60.0

    def _train_epoch(self, epoch: int, cancel: Cancel | None) -> RunStatus | None:
        """One epoch of steps; returns why it stopped early, or None when it ran to the end."""
        config, device, module = self.config, self.device, self.module
        module.train()
        # The sample order and the augmentation streams are functions of (seed, epoch): a resumed
        # run repeats them without any saved generator state.
        order = torch.randperm(
            len(self.train_source),
            generator=torch.Generator().manual_seed(epoch_seed(config.seed, epoch, 0)),
        ).to(self.train_source.index_device)
        self.augmenter.reseed(self.group.augment_seed(epoch_seed(config.seed, epoch, 1)))
        batch_size, share = self.batch_size, self.group.share
        # Summed on the device and read back once per report window.
        window_loss = torch.zeros((), device=device)
        window_correct = torch.zeros((), device=device, dtype=torch.int64)
        window_steps, window_started = 0, time.monotonic()
        self.epoch_loss, self.epoch_correct = 0.0, 0
        for step in range(self.steps_per_epoch):
            stopped = self._stop_reason(cancel)
            if stopped is not None:
                return stopped
            global_step = epoch * self.steps_per_epoch + step
            self.lr = lr_at(global_step, config, self.total_steps, self.warmup_steps)
            set_lr(self.optimizer, self.lr)
            images, labels = self.train_source.batch(
                share(order[step * batch_size : (step + 1) * batch_size])
            )
            inputs, targets = self.augmenter(images, labels)
            logits, loss = optimisation_step(
                self.forward, module, self.optimizer, self.scaler, inputs, targets, config,
                self.amp_dtype,
            )  # fmt: skip
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
                or self.group.decide(time.monotonic() - window_started >= _REPORT_SECONDS)
            ):
                self._report(epoch, step, window_loss, window_correct, window_steps, window_started)
                window_loss.zero_()
                window_correct.zero_()
                window_steps, window_started = 0, time.monotonic()
        return None

    def _report(
        self,
        epoch: int,
        step: int,
        window_loss: torch.Tensor,
        window_correct: torch.Tensor,
        window_steps: int,
        window_started: float,
    ) -> None:
        """Read the window's sums back (the only host-device synchronisation) and report them.

        With several ranks the sums are over every rank's share, and each rank's loss is the
        mean of its share, so the loss of a step is their mean."""
        sums = self.group.sum_(torch.stack([window_loss, window_correct.to(window_loss.dtype)]))
        loss_sum, correct = sums.tolist()
        loss_sum /= self.group.world_size
        mean_loss = loss_sum / window_steps
        if not math.isfinite(mean_loss):
            raise StudioError(
                f"training diverged in epoch {epoch + 1} (loss is {mean_loss}); restart with a "
                "lower learning rate (--lr) or --precision fp32"
            )
        self.epoch_loss += loss_sum
        self.epoch_correct += int(correct)
        if self.callbacks.on_step is None and not (self.config.step_metrics and self.files):
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
        if self.config.step_metrics and self.files is not None:
            self.files.record({"kind": "step"} | asdict(info))
        if self.callbacks.on_step is not None:
            self.callbacks.on_step(info)

    def _finish_epoch(self, epoch: int, epoch_started: float) -> RunStatus | None:
        """Validate, save and report a completed epoch; why the run ends here, if it does (the
        time budget, or validation no better for `patience` epochs)."""
        config = self.config
        train_seconds = time.monotonic() - epoch_started
        done = epoch + 1
        last = done == config.epochs
        # Stop now if another epoch would overrun the budget, so this one is saved in full.
        out_of_time = not last and bool(
            self.group.decide(self._out_of_time(extra_s=train_seconds))
        )
        result = None
        if self.val_source is not None and (done % config.val_every == 0 or last or out_of_time):
            result = self._validate()
            if self.callbacks.on_validated is not None:
                self.callbacks.on_validated(result)
        improved = result is not None and self.kept.is_beaten_by(result)
        if improved:
            self.kept.take(result, done)
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
                tuple(finite_or_none(a) for a in result.per_class_accuracy) if result else None
            ),
            lr=self.lr,
            seconds=time.monotonic() - epoch_started,
            images_per_s=steps * self.batch_size / max(train_seconds, 1e-9),
            best=keep,
            confusion=tuple(map(tuple, result.confusion.tolist())) if result else None,
        )
        self.history.append(info)
        if self.files is not None:
            if keep:
                self.files.save_model(
                    self.model, self.module, self.config, done, info.val_acc, self.provenance,
                    self.device, world_size=self.group.world_size,
                )  # fmt: skip
            if checkpoint:
                self._save_checkpoint(done)
            self.files.record({"kind": "epoch"} | info.record())
        if self.callbacks.on_epoch is not None:
            self.callbacks.on_epoch(info)
        if out_of_time:
            return RunStatus.TIME_BUDGET
        patience = config.patience
        if not patience or last or result is None:
            return None
        stalled = done - last_progress(self.history) >= patience
        return RunStatus.EARLY_STOPPED if stalled else None

    def _validate(self) -> EvalResult:
        return validate(
            self.model, self.module, self.val_source, self.val_labels, 2 * self.batch_size,
            self.amp_dtype, self.group,
        )  # fmt: skip

    # --- files ----------------------------------------------------------------------------------

    def _save_checkpoint(self, epoch: int) -> None:
        save_checkpoint(
            self.paths.checkpoint,
            epoch=epoch,
            model=self.model,
            module=self.module,
            config=self.config,
            optimizer=self.optimizer,
            scaler=self.scaler,
            history=self.history,
            provenance=self.provenance,
            seconds=self._elapsed(),
            **self.kept.checkpoint_state(),
        )

    def _elapsed(self) -> float:
        """The run's wall time: earlier sessions' (a resumed run) and this one's."""
        return self.earlier_seconds + time.monotonic() - self.started


def _recorded_start(provenance: dict[str, Any]) -> StartingPoint | None:
    """The starting point a resumed run recorded when it began."""
    recorded = provenance.get("start")
    return StartingPoint(**recorded) if isinstance(recorded, dict) else None


def _note(callbacks: TrainCallbacks, message: str) -> None:
    if callbacks.on_note is not None:
        callbacks.on_note(message)
