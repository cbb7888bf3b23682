"""Training: learns, is reproducible, resumes exactly, stops cleanly, saves loadable models."""

import json
import types
import warnings
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from safetensors import safe_open
from safetensors.torch import load_file

from tests.conftest import TINY_ARCH, random_model
from vit_studio.engine import training
from vit_studio.engine.augment import AugmentConfig
from vit_studio.engine.data import CachedImages
from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import ViTArch, load_studio_model
from vit_studio.engine.training import (
    EvalResult,
    TrainCallbacks,
    TrainConfig,
    TrainPaths,
    evaluate,
    interpolate_pos_embedding,
    load_checkpoint,
    new_model,
    prepare_finetune,
    preset_arch,
    train,
)

CLASSES = ("red", "green", "blue")
SMALL = ViTArch(
    image_size=16, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
    num_classes=len(CLASSES),
)  # fmt: skip


def colour_images(n, seed=0, size=16):
    """An easy task: the class is the image's dominant colour channel."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % len(CLASSES)
    images = torch.randint(0, 90, (n, 3, size, size), generator=generator, dtype=torch.uint8)
    images[torch.arange(n), labels] += 150
    paths = tuple(Path(f"{CLASSES[k]}/{i}.png") for i, k in enumerate(labels.tolist()))
    return CachedImages(images=images, labels=labels, paths=paths, skipped=())


def config(**changes):
    base = TrainConfig(
        epochs=2, batch_size=16, lr=3e-3, warmup_epochs=0.5, device="cpu", precision="fp32",
        augment=AugmentConfig.light(),
    )  # fmt: skip
    return replace(base, **changes)


def fresh(seed=0):
    return new_model(SMALL, CLASSES, mean=(0.5,) * 3, std=(0.25,) * 3, seed=seed)


def same_weights(a, b):
    sa, sb = a.module.state_dict(), b.module.state_dict()
    return all(torch.equal(sa[k].cpu(), sb[k].cpu()) for k in sa)


def stop_after_epoch(epoch):
    """(callbacks, cancel) that cancel the run once `epoch` has finished."""
    done = {"epoch": 0}
    callbacks = TrainCallbacks(on_epoch=lambda info: done.update(epoch=info.epoch))
    return callbacks, lambda: done["epoch"] >= epoch


# --- learning ------------------------------------------------------------------------------


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


# --- reproducibility and resuming ----------------------------------------------------------


def test_same_seed_gives_identical_weights():
    runs = [fresh(), fresh(), fresh()]
    for model, seed in zip(runs, (0, 0, 1), strict=True):
        train(model, colour_images(64), None, config(seed=seed, augment=AugmentConfig()))
    assert same_weights(runs[0], runs[1])
    assert not same_weights(runs[0], runs[2])


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    settings = config(epochs=3, augment=AugmentConfig())  # every random op in play
    straight = fresh()
    train(
        straight, colour_images(64), colour_images(24, 1), settings, out=tmp_path / "a.safetensors"
    )

    callbacks, cancel = stop_after_epoch(1)
    result = train(
        fresh(), colour_images(64), colour_images(24, 1), settings,
        out=tmp_path / "b.safetensors", callbacks=callbacks, cancel=cancel,
    )  # fmt: skip
    assert result.status == "cancelled" and result.epochs_completed == 1

    checkpoint = load_checkpoint(tmp_path / "b.checkpoint.pt")
    assert checkpoint.epoch == 1 and checkpoint.config == settings
    resumed = checkpoint.model()
    result = train(
        resumed, colour_images(64), colour_images(24, 1), settings,
        out=tmp_path / "b.safetensors", resume=checkpoint,
    )  # fmt: skip
    assert result.epochs_completed == 3 and [h.epoch for h in result.history] == [1, 2, 3]
    assert same_weights(straight, resumed)
    lines = (tmp_path / "b.metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]


def test_resume_refuses_changed_learning_settings(tmp_path):
    callbacks, cancel = stop_after_epoch(1)
    train(fresh(), colour_images(48), None, config(), out=tmp_path / "m.safetensors",
          callbacks=callbacks, cancel=cancel)  # fmt: skip
    checkpoint = load_checkpoint(tmp_path / "m.checkpoint.pt")
    with pytest.raises(StudioError, match="lr=0.003"):
        train(checkpoint.model(), colour_images(48), None, config(lr=1e-3), resume=checkpoint)
    # How it runs may change: logging cadence, device, budget...
    train(checkpoint.model(), colour_images(48), None, config(log_every=7), resume=checkpoint)


def test_keyboard_interrupt_leaves_complete_resumable_files(tmp_path):
    def interrupt(info):
        if info.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(
            fresh(), colour_images(64), colour_images(24, 1), config(epochs=3, log_every=1),
            out=tmp_path / "m.safetensors", callbacks=TrainCallbacks(on_step=interrupt),
        )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "m.checkpoint.pt", "m.metrics.jsonl", "m.safetensors",
    ]  # fmt: skip
    assert load_checkpoint(tmp_path / "m.checkpoint.pt").epoch == 1
    assert load_studio_model(tmp_path / "m.safetensors").meta.class_names == CLASSES


def test_time_budget_stops_after_a_saved_epoch(tmp_path, monkeypatch):
    clock = iter(range(0, 10_000, 1))  # every reading of the clock is one second later
    monkeypatch.setattr(training, "time", types.SimpleNamespace(monotonic=lambda: next(clock)))
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


# --- outputs -------------------------------------------------------------------------------


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
    assert provenance["training"]["device"] == "cpu"
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
    assert [r["kind"] for r in records] == ["step", "step", "epoch"] * 2
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


# --- evaluation ----------------------------------------------------------------------------


def test_evaluate_numbers_on_a_model_that_always_says_green():
    model = fresh()
    with torch.no_grad():
        model.module.heads.head.weight.zero_()
        model.module.heads.head.bias.copy_(torch.tensor([0.0, 2.0, 0.0]))
    data = colour_images(9)  # 3 images of each class
    result = evaluate(model, data, batch_size=4)
    assert result.accuracy == pytest.approx(1 / 3)
    np.testing.assert_array_equal(result.predictions, np.ones(9))
    np.testing.assert_array_equal(result.confusion, [[0, 3, 0], [0, 3, 0], [0, 3, 0]])
    np.testing.assert_allclose(result.per_class_accuracy, [0.0, 1.0, 0.0])
    expected = torch.softmax(torch.tensor([0.0, 2.0, 0.0]), 0)
    np.testing.assert_allclose(result.probabilities, expected.expand(9, 3).numpy(), atol=1e-6)
    assert result.loss == pytest.approx(float(-expected.log().mean() * 3 / 3), rel=1e-5)
    report = result.to_dict()
    assert report["per_class"]["green"] == {"accuracy": 1.0, "images": 3}
    assert report["predictions"][0] == {
        "image": "red/0.png", "label": "red", "predicted": "green",
        "probability": pytest.approx(float(expected[1]), abs=1e-6),
    }  # fmt: skip


def test_eval_result_marks_classes_without_images():
    result = EvalResult(
        class_names=("a", "b", "c"),
        labels=np.array([0, 0, 1]),
        probabilities=np.array([[0.9, 0.1, 0], [0.2, 0.8, 0], [0.3, 0.7, 0]], dtype=np.float32),
        loss=0.0,
    )
    assert result.accuracy == pytest.approx(2 / 3)
    assert np.isnan(result.per_class_accuracy[2])
    assert result.to_dict()["per_class"]["c"]["accuracy"] is None


def test_evaluate_centre_crops_images_cached_at_the_resize_size():
    model = random_model()  # 32px crop from a 36px resize, like torchvision's policy
    pre = model.meta.preprocessing
    data = colour_images(4, size=pre.resize_size)
    cropped = CachedImages(
        images=data.images[..., 2:34, 2:34].contiguous(), labels=data.labels % 5,
        paths=data.paths, skipped=(),
    )  # fmt: skip
    data = CachedImages(images=data.images, labels=data.labels % 5, paths=data.paths, skipped=())
    np.testing.assert_allclose(
        evaluate(model, data).probabilities, evaluate(model, cropped).probabilities, atol=1e-6
    )


# --- fine-tuning and architectures ---------------------------------------------------------


def test_prepare_finetune_replaces_head_and_resizes_position_embeddings():
    base = random_model()  # 32px, patch 8: a 4x4 grid, 5 classes
    before = {k: v.clone() for k, v in base.module.state_dict().items()}
    model = prepare_finetune(base, CLASSES, image_size=48)
    assert model.arch.image_size == 48 and model.arch.grid_size == 6
    assert model.arch.num_classes == 3 and model.meta.class_names == CLASSES
    assert model.meta.preprocessing.crop_size == 48
    assert model.meta.preprocessing.resize_size == round(base.meta.preprocessing.resize_size * 1.5)
    pos = model.module.encoder.pos_embedding
    assert pos.shape == (1, 37, TINY_ARCH.hidden_dim)
    assert torch.equal(pos[:, 0], base.module.encoder.pos_embedding[:, 0])  # class token kept
    assert not model.module.heads.head.weight.any()  # a zero head: uniform first guesses
    with torch.no_grad():
        assert model.module(torch.randn(2, 3, 48, 48)).shape == (2, 3)
    assert all(torch.equal(before[k], v) for k, v in base.module.state_dict().items())


def test_position_embedding_interpolation_keeps_smooth_patterns():
    ramp = torch.linspace(0, 1, 4).view(1, 4).expand(4, 4)  # left to right
    pos = torch.cat([torch.full((1, 1), 7.0), ramp.reshape(16, 1)]).view(1, 17, 1)
    resized = interpolate_pos_embedding(pos, 8)
    assert resized.shape == (1, 65, 1) and resized[0, 0, 0] == 7.0
    grid = resized[0, 1:, 0].view(8, 8)
    assert (grid[:, 1:] >= grid[:, :-1] - 1e-6).all()  # still increasing left to right
    torch.testing.assert_close(grid[0], grid[5])  # still constant top to bottom


@pytest.mark.parametrize(
    ("freeze", "trained"),
    [("backbone", {"heads"}), ("1", {"heads", "encoder.ln", "encoder_layer_2"})],
)
def test_frozen_parameters_do_not_change_in_training(freeze, trained):
    model = prepare_finetune(random_model(), CLASSES)
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    train(model, colour_images(32, size=32), None, config(epochs=1, freeze=freeze))
    for name, value in model.module.state_dict().items():
        changed = not torch.equal(before[name], value)
        assert changed == any(part in name for part in trained), name


def test_presets_with_overrides():
    lite = preset_arch("lite", 10)
    assert (lite.num_layers, lite.num_heads, lite.hidden_dim, lite.mlp_dim) == (7, 4, 256, 512)
    assert (lite.image_size, lite.patch_size, lite.num_classes) == (32, 4, 10)
    assert preset_arch("tiny", 3, image_size=64, patch_size=None).image_size == 64
    with pytest.raises(StudioError, match="choose one of"):
        preset_arch("huge", 3)
    with pytest.raises(StudioError, match="multiple of patch size"):
        preset_arch("lite", 3, image_size=30)


# --- CUDA (skipped without a GPU) ------------------------------------------------------------

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


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
    monkeypatch.setattr(training, "_DEVICE_DATA_SHARE", 0.0)
    result = train(
        fresh(), colour_images(256), colour_images(48, 1), config(epochs=6, device="cuda")
    )
    assert result.best_val_acc >= 0.9


@pytest.mark.cuda
@needs_cuda
def test_cuda_resume_matches_an_uninterrupted_run(tmp_path):
    settings = config(epochs=2, device="cuda", augment=AugmentConfig())
    straight = fresh()
    train(straight, colour_images(64), None, settings)
    callbacks, cancel = stop_after_epoch(1)
    train(fresh(), colour_images(64), None, settings, out=tmp_path / "m.safetensors",
          callbacks=callbacks, cancel=cancel)  # fmt: skip
    checkpoint = load_checkpoint(tmp_path / "m.checkpoint.pt")
    resumed = checkpoint.model()
    train(resumed, colour_images(64), None, settings, resume=checkpoint)
    # GPU kernels (attention backward) may sum in varying order: equal up to rounding, while a
    # wrong sample order or augmentation stream would differ grossly.
    for name, value in straight.module.state_dict().items():
        torch.testing.assert_close(resumed.module.state_dict()[name], value, atol=1e-4, rtol=1e-3)


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
