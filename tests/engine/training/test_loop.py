"""The training loop: learns, is reproducible, stops cleanly, saves loadable models."""

import json
import types
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from safetensors import safe_open
from safetensors.torch import load_file

from tests.engine.training.helpers import (
    CLASSES,
    colour_images,
    config,
    fresh,
    needs_cuda,
    same_weights,
)
from vit_studio.engine.augment import AugmentConfig
from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import load_studio_model
from vit_studio.engine.training import (
    TrainCallbacks,
    TrainPaths,
    load_checkpoint,
    loop,
    source,
    train,
)

# --- learning -------------------------------------------------------------------------------------


def test_learns_an_easy_task_in_seconds():
    losses = []
    result = train(
        fresh(), colour_images(96), colour_images(48, seed=1), config(epochs=6),
        callbacks=TrainCallbacks(on_epoch=lambda info: losses.append(info.train_loss)),
    )  # fmt: skip
    assert result.status == "completed" and result.epochs_completed == 6
    assert losses[-1] < losses[0]
    assert result.best_val_acc >= 0.9


def test_strong_augmentation_with_mixup_still_lowers_the_loss():
    losses = []
    train(
        fresh(), colour_images(96), None, config(epochs=4, augment=AugmentConfig()),
        callbacks=TrainCallbacks(on_epoch=lambda info: losses.append(info.train_loss)),
    )  # fmt: skip
    assert losses[-1] < losses[0]


def test_step_reports_carry_progress_and_eta():
    steps = []
    train(
        fresh(), colour_images(64), None, config(epochs=2, log_every=2),
        callbacks=TrainCallbacks(on_step=steps.append),
    )  # fmt: skip
    assert [(s.epoch, s.step) for s in steps] == [(1, 2), (1, 4), (2, 2), (2, 4)]
    assert all(s.steps_per_epoch == 4 and s.images_per_s > 0 for s in steps)
    assert steps[-1].eta_s == 0 and steps[0].eta_s > 0
    assert steps[0].lr > 0


def test_same_seed_gives_identical_weights():
    runs = [fresh(), fresh(), fresh()]
    for model, seed in zip(runs, (0, 0, 1), strict=True):
        train(model, colour_images(64), None, config(seed=seed, augment=AugmentConfig()))
    assert same_weights(runs[0], runs[1])
    assert not same_weights(runs[0], runs[2])


def test_each_validation_hands_over_every_images_result_before_its_epoch_report():
    events = []
    callbacks = TrainCallbacks(
        on_validated=lambda result: events.append(("validated", result)),
        on_epoch=lambda info: events.append(("epoch", info)),
    )
    val = colour_images(24, 1)
    train(fresh(), colour_images(64), val, config(epochs=2), callbacks=callbacks)
    assert [kind for kind, _ in events] == ["validated", "epoch"] * 2
    for (_, result), (_, info) in zip(events[::2], events[1::2], strict=True):
        assert result.probabilities.shape == (24, len(CLASSES))
        assert np.array_equal(result.labels, val.labels.numpy())
        assert result.accuracy == info.val_acc


def test_time_budget_stops_after_a_saved_epoch(tmp_path, monkeypatch):
    clock = iter(range(0, 10_000, 1))  # every reading of the clock is one second later
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(monotonic=lambda: next(clock)))
    notes = []
    result = train(
        fresh(), colour_images(64), colour_images(24, 1), config(epochs=50, max_minutes=1.5),
        out=tmp_path / "m.safetensors", callbacks=TrainCallbacks(on_note=notes.append),
    )  # fmt: skip
    assert result.status == "time budget"
    assert 0 < result.epochs_completed < 50
    assert load_checkpoint(tmp_path / "m.checkpoint.pt").epoch == result.epochs_completed
    assert result.history[-1].val_acc is not None
    assert any("time budget" in note for note in notes)


def test_fitting_the_epochs_ends_the_schedule_inside_the_time_budget(monkeypatch):
    clock = [0.0]  # each epoch takes ten seconds of a fake clock
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    notes = []
    callbacks = TrainCallbacks(
        on_epoch=lambda info: clock.__setitem__(0, clock[0] + 10.0), on_note=notes.append
    )
    fitted = fresh()
    result = train(
        fitted, colour_images(64), colour_images(24, 1),
        config(epochs=50, warmup_epochs=4, max_minutes=1.0, fit_epochs=True), callbacks=callbacks,
    )  # fmt: skip
    # Three timed epochs leave 30 s: two more epochs fit, with a margin.
    assert result.status == "completed"
    assert [h.epoch for h in result.history] == [1, 2, 3, 4, 5]
    assert all(h.epochs == 5 for h in result.history[3:])
    assert result.history[-1].lr < 0.2 * config().lr  # the cosine is near its end, not its top
    assert any("planned 5 epochs instead of 50" in note for note in notes)

    # Fitted during warmup, the run is the one that was planned with 5 epochs from the start.
    planned = fresh()
    train(planned, colour_images(64), colour_images(24, 1), config(epochs=5, warmup_epochs=4))
    assert same_weights(fitted, planned)


def test_fitting_cuts_again_when_epochs_slow_down(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    # Ten seconds per epoch while the plan is made, then fifteen.
    callbacks = TrainCallbacks(
        on_epoch=lambda info: clock.__setitem__(0, clock[0] + (10.0 if info.epoch <= 3 else 15.0))
    )
    result = train(
        fresh(), colour_images(64), None, config(epochs=50, max_minutes=2.0, fit_epochs=True),
        callbacks=callbacks,
    )  # fmt: skip
    # The first plan (9 more epochs of 10 s) would overrun; the run still ends on its schedule.
    assert result.status == "completed"
    assert clock[0] <= 120.0
    assert result.history[-1].epochs == len(result.history) < 12


def test_fitting_never_adds_epochs(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(loop, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    callbacks = TrainCallbacks(on_epoch=lambda info: clock.__setitem__(0, clock[0] + 1.0))
    result = train(
        fresh(), colour_images(64), None, config(epochs=4, max_minutes=60, fit_epochs=True),
        callbacks=callbacks,
    )  # fmt: skip
    assert len(result.history) == 4


def test_fitting_the_epochs_needs_a_time_budget():
    with pytest.raises(StudioError, match="max_minutes"):
        config(fit_epochs=True)


# --- outputs --------------------------------------------------------------------------------------


def test_best_model_loads_with_stock_torchvision_and_records_provenance(tmp_path):
    out = tmp_path / "m.safetensors"
    model = fresh()
    result = train(
        model, colour_images(48), colour_images(24, 1), config(epochs=2), out=out,
        provenance={"dataset": "/data/colours", "command": "vit-studio train ..."},
    )  # fmt: skip
    meta = json.loads(safe_open(str(out), "pt").metadata()["vit_studio"])
    stock = torchvision.models.VisionTransformer(**meta["arch"])
    stock.load_state_dict(load_file(str(out)))
    assert meta["class_names"] == list(CLASSES)
    provenance = meta["provenance"]
    assert provenance["dataset"] == "/data/colours"
    assert provenance["training"]["val_acc"] == result.best_val_acc
    assert provenance["training"]["config"]["lr"] == 3e-3
    assert provenance["training"]["torch"] == torch.__version__
    assert provenance["training"]["device"].startswith("CPU")
    assert result.paths == TrainPaths.beside(out)


def test_without_validation_data_the_latest_model_is_kept(tmp_path):
    result = train(fresh(), colour_images(48), None, config(), out=tmp_path / "m.safetensors")
    assert result.best_val_acc is None and all(h.best for h in result.history)
    assert (
        load_studio_model(tmp_path / "m.safetensors").meta.provenance["training"][
            "epochs_completed"
        ]
        == 2
    )


def test_metrics_file_has_a_line_per_epoch_and_optionally_per_report(tmp_path):
    train(
        fresh(), colour_images(64), colour_images(24, 1), config(log_every=2, step_metrics=True),
        out=tmp_path / "m.safetensors",
    )  # fmt: skip
    records = [json.loads(line) for line in (tmp_path / "m.metrics.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records] == ["step", "step", "epoch"] * 2 + ["end"]
    epoch = records[2]
    assert epoch["epoch"] == 1 and 0 <= epoch["val_acc"] <= 1
    assert len(epoch["val_class_acc"]) == len(CLASSES)


def test_epoch_info_carries_the_validation_confusion_matrix():
    epochs = []
    train(fresh(), colour_images(48), colour_images(24, 1), config(epochs=1),
          callbacks=TrainCallbacks(on_epoch=epochs.append))  # fmt: skip
    confusion = np.array(epochs[0].confusion)
    assert confusion.shape == (3, 3) and confusion.sum() == 24
    assert np.trace(confusion) / 24 == pytest.approx(epochs[0].val_acc)


# --- CUDA (skipped without a GPU) -----------------------------------------------------------------


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("precision", ["auto", "fp16"])
def test_cuda_training_learns_in_mixed_precision(precision):
    result = train(
        fresh(), colour_images(256), colour_images(48, 1),
        config(epochs=6, device="cuda", precision=precision),
    )  # fmt: skip
    assert result.best_val_acc >= 0.9


def cuda_syncs(images: int) -> list[str]:
    """Where a one-epoch CUDA run synchronised with the host (torch's sync debug warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            train(
                fresh(), colour_images(images), None,
                config(epochs=1, device="cuda", precision="auto", log_every=10_000,
                       augment=AugmentConfig()),
            )  # fmt: skip
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return [f"{Path(w.filename).name}:{w.lineno}" for w in caught if "synchroniz" in str(w.message)]


@pytest.mark.cuda
@needs_cuda
def test_cuda_steps_never_wait_for_the_host():
    cuda_syncs(64)  # warm up kernels and allocator
    few, many = cuda_syncs(4 * 16), cuda_syncs(16 * 16)
    per_step = Counter(many) - Counter(few)
    assert not per_step, f"synchronising every step at {dict(per_step)}"


@pytest.mark.cuda
@needs_cuda
def test_cuda_pinned_memory_path_when_images_do_not_fit_on_the_gpu(monkeypatch):
    monkeypatch.setattr(source, "_DEVICE_DATA_SHARE", 0.0)
    result = train(
        fresh(), colour_images(256), colour_images(48, 1), config(epochs=6, device="cuda")
    )
    assert result.best_val_acc >= 0.9


@pytest.mark.cuda
@pytest.mark.slow
@needs_cuda
def test_cuda_compiled_training_with_compiled_augmentation_learns():
    result = train(
        fresh(), colour_images(256), colour_images(48, 1),
        config(epochs=6, device="cuda", precision="auto", compile=True, augment=AugmentConfig()),
    )  # fmt: skip
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert result.best_val_acc >= 0.6
