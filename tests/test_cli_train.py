"""`vit-studio train | finetune | evaluate` on tiny generated folders (with one broken file)."""

import errno
import json
import os
import stat

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import fill_disk, random_model
from tests.hub_server import serve_fake_hub
from tests.size_limit import posix_only, run_size_limited
from vit_studio.cli import main
from vit_studio.engine.model import load_studio_model, save_model, with_meta
from vit_studio.engine.training import load_checkpoint, pipeline

COLOURS = ("blue", "green", "red")
# A 2-block, 16px model: a CLI run takes about a second.
SMALL = ["--arch", "micro", "--image-size", "16", "--patch-size", "8", "--layers", "2",
         "--heads", "2", "--dim", "32", "--mlp-dim", "64"]  # fmt: skip
FAST = ["--batch-size", "16", "--lr", "3e-3", "--augment", "light", "--device", "cpu"]


def colour_folder(root, per_class=12, channels=COLOURS):
    """root/<colour>/*.png where the class is the dominant channel, plus one broken file."""
    rng = np.random.default_rng(0)
    for name in channels:
        channel = ("red", "green", "blue").index(name)
        for i in range(per_class):
            pixels = rng.integers(0, 90, (20, 20, 3), dtype=np.uint8)
            pixels[..., channel] += 150
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    (root / channels[0] / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return root


@pytest.fixture
def folder(tmp_path):
    return colour_folder(tmp_path / "colours")


def test_train_reports_the_scan_trains_and_writes_model_checkpoint_and_metrics(
    folder, tmp_path, capsys
):
    out = tmp_path / "m.safetensors"
    assert main(["train", str(folder), *SMALL, *FAST, "--epochs", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3 classes, 30 training and 6 validation images" in printed
    assert "broken.png: truncated" in printed
    assert "epoch 2/2" in printed and "completed after 2 epochs" in printed
    model = load_studio_model(out)
    assert model.meta.class_names == COLOURS and model.arch.image_size == 16
    training = model.meta.provenance["training"]
    assert training["config"]["epochs"] == 2 and training["device"].startswith("CPU")
    assert model.meta.provenance["command"].startswith("vit-studio train ")
    assert load_checkpoint(tmp_path / "m.checkpoint.pt").epoch == 2
    records = [json.loads(line) for line in (tmp_path / "m.metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records[:-1]] == [1, 2]
    assert records[-1] == {"kind": "end", "status": "completed", "epochs_completed": 2}


def test_train_needs_an_architecture(folder, tmp_path, capsys):
    assert main(["train", str(folder), "--out", str(tmp_path / "m.safetensors")]) == 2
    assert "--arch" in capsys.readouterr().err


def test_ctrl_c_prints_how_to_resume_and_resume_finishes_the_run(
    folder, tmp_path, capsys, monkeypatch
):
    real_train = pipeline.train

    def interrupted_after_first_epoch(*args, callbacks, **kwargs):
        on_epoch = callbacks.on_epoch

        def interrupt(info):
            on_epoch(info)
            raise KeyboardInterrupt

        callbacks.on_epoch = interrupt
        return real_train(*args, callbacks=callbacks, **kwargs)

    out = tmp_path / "m.safetensors"
    command = ["train", str(folder), *SMALL, *FAST, "--epochs", "3", "--out", str(out)]
    monkeypatch.setattr(pipeline, "train", interrupted_after_first_epoch)
    assert main(command) == 130
    assert f"interrupted; resume with: vit-studio train {folder} --out {out} --resume" in (
        capsys.readouterr().err
    )
    monkeypatch.setattr(pipeline, "train", real_train)

    assert main(["train", str(folder), "--out", str(out), "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "resuming" in printed and "epoch 1/3" not in printed and "epoch 3/3" in printed
    assert load_checkpoint(tmp_path / "m.checkpoint.pt").epoch == 3


def test_resume_refuses_other_learning_settings(folder, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    main(["train", str(folder), *SMALL, *FAST, "--epochs", "1", "--out", str(out)])
    capsys.readouterr()
    assert main(["train", str(folder), "--out", str(out), "--resume", "--epochs", "5"]) == 2
    assert "drop --epochs" in capsys.readouterr().err
    assert main(["train", str(folder), "--out", str(out), "--resume", "--arch", "lite"]) == 2


def test_finetune_without_a_model_and_none_bundled_says_what_to_do(
    folder, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr("vit_studio.engine.resources.default_model_path", lambda: None)
    assert main(["finetune", str(folder), "--out", str(tmp_path / "m.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "no bundled model" in err and "pass --model" in err


@pytest.mark.parametrize("command", ["train", "finetune"])
def test_a_folder_that_cannot_train_stops_both_commands_with_one_line(tmp_path, capsys, command):
    folder = colour_folder(tmp_path / "colours", per_class=1)
    base = save_model(random_model(), tmp_path / "base.safetensors")
    how = [*SMALL] if command == "train" else ["--model", str(base)]
    assert main([command, str(folder), *how, "--out", str(tmp_path / "m.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vit-studio: error: ")
    assert "too few usable images" in err and "add images to that class folder" in err


def test_finetune_replaces_the_head_resizes_and_freezes(folder, tmp_path):
    base = save_model(random_model(), tmp_path / "base.safetensors")  # 32px, 5 classes
    out = tmp_path / "ft.safetensors"
    args = ["finetune", str(folder), "--model", str(base), "--image-size", "24",
            "--freeze", "backbone", "--epochs", "1", "--out", str(out), *FAST]  # fmt: skip
    assert main(args) == 0
    model = load_studio_model(out)
    assert model.meta.class_names == COLOURS and model.arch.image_size == 24
    assert model.meta.provenance["finetuned_from"] == "tiny"
    base_model = load_studio_model(base)
    encoder = "encoder.layers.encoder_layer_0.mlp.0.weight"
    assert (model.module.state_dict()[encoder] == base_model.module.state_dict()[encoder]).all()


def test_finetune_downloads_a_hub_model_itself_and_starts_from_it(
    folder, tmp_path, monkeypatch, capsys
):
    # The command downloads --model itself (under torchrun: rank 0 first, the others then find it).
    for _hub in serve_fake_hub(tmp_path, monkeypatch):
        out = tmp_path / "ft.safetensors"
        args = ["finetune", str(folder), "--model", "hf:fake/vit-tiny", "--epochs", "1",
                "--device", "cpu", "--out", str(out)]  # fmt: skip
        assert main(args) == 0
        assert "downloading fake/vit-tiny" in capsys.readouterr().err
        model = load_studio_model(out)
        assert model.meta.class_names == COLOURS
        base = model.meta.provenance["data"]["base_model"]
        assert base.startswith(str(tmp_path / "hf")) and "vit-tiny" in base  # the download


def test_finetune_derives_the_settings_left_open_from_the_folder_and_says_why(
    folder, tmp_path, capsys
):
    base = save_model(random_model(), tmp_path / "base.safetensors")
    out = tmp_path / "ft.safetensors"
    args = ["finetune", str(folder), "--model", str(base), "--epochs", "2", "--out", str(out),
            "--device", "cpu"]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    # 2e-3 per 128 images when every layer trains, for batches of 8: 2e-3 * 8 / 128
    assert "settings: 2 epochs, batches of 8, learning rate 0.000125, every layer trains" in printed
    assert "pixels alone: " in printed and ", pixels alone " in printed  # before and after
    assert "  freeze: the smallest class has 10 training images" in printed
    assert "  epochs:" not in printed  # given, so nothing to explain
    # Colours look the same mirrored: the measured flip keeps mirroring, and says why.
    assert "  flip: auto: mirrored at random; a quick probe scored" in printed
    assert "before fine-tuning, on the validation images: a probe on its frozen features" in printed
    model = load_studio_model(out)
    config = model.meta.provenance["training"]["config"]
    assert (config["epochs"], config["batch_size"], config["freeze"]) == (2, 8, "none")
    assert config["probe_head"] and config["layer_decay"] == 0.75
    assert model.meta.name == "ft"


def test_evaluate_prints_accuracy_per_class_and_confusion_and_writes_json(folder, tmp_path, capsys):
    # A model that answers "green" for everything: accuracy 1/3, known confusion matrix.
    model = random_model()
    model = with_meta(model, class_names=("red", "green", "blue", "cyan", "grey"))
    head = model.module.heads.head
    head.weight.data.zero_()
    head.bias.data.copy_(head.bias.data.new_tensor([0, 5.0, 0, 0, 0]))
    path = save_model(model, tmp_path / "green.safetensors")
    report = tmp_path / "eval.json"
    assert main(["evaluate", str(folder), "--model", str(path), "--json", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "top-1 33.33% on 36 images" in printed and "confusion" in printed
    document = json.loads(report.read_text())
    assert document["subset"] == "all" and document["images"] == 36
    assert document["per_class"]["green"] == {"accuracy": 1.0, "images": 12}
    assert document["per_class"]["cyan"] == {"accuracy": None, "images": 0}
    confusion = np.array(document["confusion"])
    assert confusion[:, 1].tolist() == [12, 12, 12, 0, 0] and confusion.sum() == 36


def test_evaluate_uses_only_the_val_folder_when_there_is_one(tmp_path, capsys):
    colour_folder(tmp_path / "split" / "train", per_class=4)
    colour_folder(tmp_path / "split" / "val", per_class=2)
    model = with_meta(random_model(), class_names=("red", "green", "blue", "cyan", "grey"))
    path = save_model(model, tmp_path / "m.safetensors")
    assert main(["evaluate", str(tmp_path / "split"), "--model", str(path), "--json", "-"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["subset"] == "val" and document["images"] == 6


def test_evaluate_matches_folders_named_as_people_name_them(tmp_path, capsys):
    colour_folder(tmp_path / "plural", channels=("blue", "red"))
    (tmp_path / "plural" / "blue").rename(tmp_path / "plural" / "Blues")
    (tmp_path / "plural" / "red").rename(tmp_path / "plural" / "reds")
    model = with_meta(random_model(), class_names=("red", "green", "blue", "cyan", "grey"))
    path = save_model(model, tmp_path / "m.safetensors")
    assert main(["evaluate", str(tmp_path / "plural"), "--model", str(path), "--json", "-"]) == 0
    document = json.loads(capsys.readouterr().out)
    labels = {p["image"].split("/")[-2]: p["label"] for p in document["predictions"]}
    assert labels == {"Blues": "blue", "reds": "red"}


def test_finetune_writes_a_report_and_refuses_a_folder_of_the_users_files_before_training(
    folder, tmp_path, capsys
):
    base = save_model(random_model(), tmp_path / "base.safetensors")
    args = ["finetune", str(folder), "--model", str(base), "--epochs", "1", "--device", "cpu"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    out = tmp_path / "ft.safetensors"
    assert main([*args, "--out", str(out), "--report", str(mine)]) == 2
    assert "not a ViT Studio report" in capsys.readouterr().err and not out.exists()
    assert main([*args, "--out", str(out), "--report", str(tmp_path / "report")]) == 0
    assert f"report: {tmp_path / 'report' / 'index.html'}" in capsys.readouterr().out
    page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert "Largest losses" in page and "Accuracy per class" in page


def test_evaluate_refuses_folder_classes_the_model_does_not_know(folder, tmp_path, capsys):
    path = save_model(random_model(), tmp_path / "m.safetensors")  # classes "class 0".."class 4"
    assert main(["evaluate", str(folder), "--model", str(path)]) == 2
    assert "are not classes of the model" in capsys.readouterr().err


def test_fit_epochs_without_a_budget_asks_for_one(folder, tmp_path, capsys):
    code = main(["train", str(folder), "--arch", "micro", "--fit-epochs",
                 "--out", str(tmp_path / "m.safetensors")])  # fmt: skip
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "--max-minutes" in error


def the_error_line(err: str) -> str:
    """The one error line that ends standard error (progress lines may come before it)."""
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("vit-studio:")]
    assert len(errors) == 1 and err.endswith(errors[0] + "\n")
    return errors[0]


def fine_tune_args(folder, base, out, epochs=2):
    return ["finetune", str(folder), "--model", str(base), "--out", str(out),
            "--epochs", str(epochs), *FAST]  # fmt: skip


def test_a_disk_that_fills_up_mid_run_is_one_line_and_the_last_checkpoint_stays(
    folder, tmp_path, small_disk, capsys, monkeypatch
):
    base = save_model(random_model(), tmp_path / "base.safetensors")
    out = small_disk / "m.safetensors"
    real_train = pipeline.train

    def disk_full_after_first_epoch(*args, callbacks, **kwargs):
        on_epoch = callbacks.on_epoch

        def then_fill(info):
            on_epoch(info)
            fill_disk(small_disk)

        callbacks.on_epoch = then_fill
        return real_train(*args, callbacks=callbacks, **kwargs)

    monkeypatch.setattr(pipeline, "train", disk_full_after_first_epoch)
    assert main(fine_tune_args(folder, base, out)) == 2
    err = the_error_line(capsys.readouterr().err)
    assert err.startswith(f"vit-studio: error: {small_disk}/m.")
    assert "the disk is full while writing the" in err and "free some space" in err
    checkpoint = small_disk / "m.checkpoint.pt"
    assert f"the last checkpoint, {checkpoint}, is kept: resume with vit-studio finetune" in err
    assert load_checkpoint(checkpoint).epoch == 1  # intact, from the last good epoch
    assert not [p for p in small_disk.iterdir() if p.name.endswith(".tmp")]


def test_a_disk_full_at_the_write_call_mid_run_is_one_line_and_the_last_checkpoint_stays(
    folder, tmp_path, capsys, monkeypatch
):
    # The tmpfs test above without root: torch.save fails as on a full disk from epoch 2 on.
    base = save_model(random_model(), tmp_path / "base.safetensors")
    out = tmp_path / "run" / "m.safetensors"
    real_save, saves = torch.save, []

    def disk_full_after_first_checkpoint(obj, path, *args, **kwargs):
        saves.append(path)
        if len(saves) > 1:
            with open(path, "wb") as handle:
                handle.write(b"\0" * 100)  # part of it, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", disk_full_after_first_checkpoint)
    assert main(fine_tune_args(folder, base, out)) == 2
    err = the_error_line(capsys.readouterr().err)
    checkpoint = out.with_name("m.checkpoint.pt")
    assert err.startswith(f"vit-studio: error: {checkpoint}: the disk is full while writing the "
                          "training checkpoint; free some space")  # fmt: skip
    assert f"the last checkpoint, {checkpoint}, is kept: resume with vit-studio finetune" in err
    monkeypatch.setattr(torch, "save", real_save)
    assert load_checkpoint(checkpoint).epoch == 1
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]


@posix_only
def test_a_run_over_a_file_size_limit_is_one_line_and_the_earlier_model_stays(folder, tmp_path):
    # No root needed: the model (68 kB) cannot be written past the limit, the cache (28 kB) can.
    out = tmp_path / "m.safetensors"
    out.write_bytes(b"the earlier model")
    args = ["train", str(folder), *SMALL, *FAST, "--epochs", "2", "--out", str(out), "--overwrite"]
    done = run_size_limited(48_000, "-m", "vit_studio", *args)
    assert done.returncode == 2
    assert the_error_line(done.stderr) == (
        f"vit-studio: error: {out}: the file grew larger than this disk or account allows while "
        "writing the model; write to another disk, or raise the limit (FAT32 drives hold 4 GB per "
        "file)"
    )
    assert out.read_bytes() == b"the earlier model"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_an_output_folder_one_may_not_write_to_is_one_line_and_leaves_nothing(
    folder, tmp_path, capsys, monkeypatch
):
    base = save_model(random_model(), tmp_path / "base.safetensors")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_mkstemp = __import__("tempfile").mkstemp

    def refuse_in_locked(*args, **kwargs):  # what a folder without write permission does
        if kwargs.get("dir") == locked:
            raise PermissionError(13, "Permission denied", str(locked))
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr("vit_studio.engine.fileio.tempfile.mkstemp", refuse_in_locked)
    assert main(fine_tune_args(folder, base, locked / "m.safetensors", epochs=1)) == 2
    assert the_error_line(capsys.readouterr().err) == (
        f"vit-studio: error: {locked / 'm.safetensors'}: permission denied while writing the "
        "model; choose a folder you can write to, or change its permissions"
    )
    assert list(locked.iterdir()) == []


def test_a_saved_model_and_its_files_get_the_users_default_permissions(folder, tmp_path):
    base = save_model(random_model(), tmp_path / "base.safetensors")
    out = tmp_path / "run" / "m.safetensors"
    assert main(fine_tune_args(folder, base, out, epochs=1)) == 0
    umask = os.umask(0)
    os.umask(umask)
    for path in (out, out.with_name("m.checkpoint.pt"), out.with_name("m.metrics.jsonl")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path.name
