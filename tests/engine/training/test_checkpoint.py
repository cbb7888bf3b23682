"""Resumable checkpoints: a resumed run continues exactly, refuses changed settings."""

import json

import pytest
import torch

from tests.engine.training.helpers import (
    CLASSES,
    colour_images,
    config,
    fresh,
    needs_cuda,
    same_weights,
    stop_after_epoch,
)
from vit_studio.engine.augment import AugmentConfig
from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import load_studio_model
from vit_studio.engine.training import (
    TrainCallbacks,
    load_checkpoint,
    train,
)


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
    records = [json.loads(line) for line in (tmp_path / "b.metrics.jsonl").read_text().splitlines()]
    # The cancelled session's end line gives way to the epochs after it, then the run's own end.
    assert [r.get("epoch", r["kind"]) for r in records] == [1, 2, 3, "end"]


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


def test_a_resumed_run_reports_the_wall_time_of_the_whole_run(tmp_path, monkeypatch):
    callbacks, cancel = stop_after_epoch(1)
    first = train(fresh(), colour_images(48), None, config(epochs=3),
                  out=tmp_path / "m.safetensors", callbacks=callbacks, cancel=cancel)  # fmt: skip
    checkpoint = load_checkpoint(tmp_path / "m.checkpoint.pt")
    assert 0 < checkpoint.seconds <= first.seconds
    checkpoint.state["seconds"] = 600.0  # as if the first session had taken ten minutes
    resumed = train(checkpoint.model(), colour_images(48), None, config(epochs=3),
                    out=tmp_path / "m.safetensors", resume=checkpoint)  # fmt: skip
    assert resumed.epochs_completed == 3 and 600.0 < resumed.seconds < 600.0 + 60.0
    assert load_checkpoint(tmp_path / "m.checkpoint.pt").seconds > 600.0
