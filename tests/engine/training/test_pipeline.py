"""The training pipeline: a request becomes a prepared run (scan, plan, model, images), a resumed
one is checked against its checkpoint, and failures say whether the checkpoint is kept."""

from pathlib import Path

import pytest

from tests.conftest import random_model, uncounted_heads_checkpoint, write_image
from vit_studio.engine.errors import Cancelled, StudioError
from vit_studio.engine.model import save_model
from vit_studio.engine.training import RunStatus
from vit_studio.engine.training.pipeline import (
    PrepareCallbacks,
    RunFailed,
    RunRequest,
    prepare_run,
    run,
)
from vit_studio.engine.training.plan import SPLIT_SEED

QUICK = {"epochs": 1, "batch_size": 4, "device": "cpu", "precision": "fp32"}


@pytest.fixture
def folder(tmp_path):
    for k, name in enumerate(("a", "b")):
        for i in range(5):
            write_image(tmp_path / "data" / name / f"{i}.png", size=(20, 20), seed=10 * k + i)
    return tmp_path / "data"


@pytest.fixture
def base(tmp_path):
    return save_model(random_model(), tmp_path / "base.safetensors")


def finetune(folder, base, out, resume=False, **settings):
    return RunRequest("finetune", folder, out, settings, base_model=base, resume=resume)


def test_a_fine_tune_is_the_base_model_with_a_new_head_and_the_images_at_its_size(
    folder, base, tmp_path
):
    stages, seen = [], {}
    prepared = prepare_run(
        finetune(folder, base, tmp_path / "mine.safetensors", image_size=24),
        PrepareCallbacks(
            on_scanned=lambda scan: seen.update(scan=scan),
            on_planned=lambda plan: seen.update(plan=plan),
            progress=lambda what, done, total: stages.append(what),
        ),
    )
    model = prepared.model
    assert model.meta.name == "mine" and model.meta.class_names == ("a", "b")
    assert model.arch.image_size == 24 and prepared.train_images.images.shape[1:] == (3, 24, 24)
    assert (len(prepared.train_images.labels), len(prepared.val_images.labels)) == (8, 2)
    assert prepared.provenance["data"] == {
        "val_share": 0.2, "split_seed": SPLIT_SEED, "base_model": str(base)
    }  # fmt: skip
    assert seen["scan"] is prepared.scan and seen["plan"] is prepared.plan
    assert "checking images" in stages and "loading images at 24 px" in stages
    assert prepared.checkpoint is None and prepared.resumable_checkpoint() is None
    assert 0.0 <= prepared.pixel_baseline() <= 1.0  # on the 2 validation images


def test_the_recorded_command_names_every_chosen_setting(folder, base, tmp_path):
    out = tmp_path / "m.safetensors"
    prepared = prepare_run(finetune(folder, base, out, lr=0.002, augment="strong", compile=False))
    assert prepared.command_line == (
        f"vit-studio finetune {folder} --model {base} --out {out} --lr 0.002 --augment strong"
    )


def test_a_base_model_whose_head_count_the_user_gave_is_loaded_and_recorded_with_it(folder,
                                                                                   tmp_path):
    base = uncounted_heads_checkpoint(tmp_path / "narrow.pth")
    out = tmp_path / "m.safetensors"
    with pytest.raises(StudioError, match="--num-heads N"):
        prepare_run(finetune(folder, base, out))
    request = RunRequest("finetune", folder, out, {}, base_model=base, base_num_heads=4)
    prepared = prepare_run(request)
    assert prepared.model.arch.num_heads == 4
    assert f"--model {base} --num-heads 4 --out" in prepared.command_line


def test_a_new_model_from_scratch_needs_an_architecture(folder, tmp_path):
    with pytest.raises(StudioError, match="choose an architecture with --arch"):
        prepare_run(RunRequest("train", folder, tmp_path / "m.safetensors"))
    prepared = prepare_run(RunRequest(
        "train", folder, tmp_path / "m.safetensors",
        {"arch": "micro", "image_size": 16, "layers": 2, "epochs": 3},
    ))  # fmt: skip
    arch = prepared.model.arch
    assert (arch.image_size, arch.num_layers, arch.num_classes) == (16, 2, 2)
    assert prepared.config.epochs == 3 and prepared.model.meta.preprocessing.mean != (0.485,) * 3


def test_cancelling_while_images_are_checked_stops_the_preparation(folder, base, tmp_path):
    with pytest.raises(Cancelled):
        prepare_run(finetune(folder, base, tmp_path / "m.safetensors"), cancel=lambda: True)


def test_a_resumed_run_continues_its_checkpoint_and_keeps_its_settings(folder, base, tmp_path):
    out = tmp_path / "m.safetensors"
    prepared = prepare_run(finetune(folder, base, out, **QUICK | {"epochs": 2}))
    result = run(prepared, cancel=lambda: prepared.paths.metrics.is_file())  # stop after epoch 1
    assert result.status == RunStatus.CANCELLED and result.epochs_completed == 1
    assert prepared.resumable_checkpoint() == prepared.paths.checkpoint

    resumed = prepare_run(RunRequest("finetune", None, out, {"device": "cpu"}, resume=True))
    assert resumed.checkpoint is not None and resumed.checkpoint.epoch == 1
    assert resumed.scan.root == folder  # from the checkpoint, as none was given
    assert resumed.config == prepared.config and resumed.command_line == prepared.command_line
    assert run(resumed).epochs_completed == 2


@pytest.fixture
def stopped_run(folder, base, tmp_path):
    """The run at `m.safetensors`, cancelled after its first epoch of two."""
    out = tmp_path / "m.safetensors"
    prepared = prepare_run(finetune(folder, base, out, **QUICK | {"epochs": 2}))
    run(prepared, cancel=lambda: prepared.paths.metrics.is_file())
    return out


@pytest.mark.parametrize(
    ("settings", "refusal"),
    [
        ({"lr": 0.5}, "the run was started with lr=.*; drop --lr to resume it"),
        ({"val_share": 0.5}, "the run was started with val_share=0.2; drop --val-share"),
        ({"image_size": 16}, "--image-size: a resumed run keeps its checkpoint's model; drop it"),
    ],
)
def test_a_resumed_run_refuses_what_would_change_what_it_learns(stopped_run, folder, settings,
                                                                refusal):
    with pytest.raises(StudioError, match=refusal):
        prepare_run(RunRequest("finetune", folder, stopped_run, settings, resume=True))


def test_resuming_on_a_folder_with_other_classes_is_refused(stopped_run, tmp_path):
    other = tmp_path / "other"
    for name in ("x", "y"):
        for i in range(5):
            write_image(other / name / f"{i}.png", size=(20, 20), seed=i)
    with pytest.raises(StudioError, match="resume on the same folder"):
        prepare_run(RunRequest("finetune", other, stopped_run, resume=True))


def test_a_failure_during_the_run_says_whether_the_checkpoint_is_kept(
    stopped_run, monkeypatch
):
    resumed = prepare_run(RunRequest("finetune", None, stopped_run, resume=True))

    def out_of_memory(*_args, **_kwargs):
        raise MemoryError

    monkeypatch.setattr("vit_studio.engine.training.pipeline.train", out_of_memory)
    with pytest.raises(RunFailed) as failed:
        run(resumed)
    assert str(failed.value) == (
        "out of memory while training; lower the batch size or the image size, or freeze more "
        "of the model"
    )
    assert failed.value.checkpoint == Path(stopped_run).with_name("m.checkpoint.pt")
