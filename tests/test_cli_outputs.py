"""`vit-studio train | finetune --out`: a file that exists is never replaced unless asked
(`--overwrite`, or `--resume`, which continues it), and the model fine-tuned from never is."""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import random_model
from tests.test_cli_train import FAST, SMALL, colour_folder
from vit_studio.cli import main
from vit_studio.engine.model import load_studio_model, save_model
from vit_studio.engine.resources import DEFAULT_MODEL_NAME

ONE_EPOCH = [*FAST, "--epochs", "1"]


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def folder(tmp_path):
    return colour_folder(tmp_path / "colours")


@pytest.fixture
def base(tmp_path):
    return save_model(random_model(), tmp_path / "mine.safetensors")


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("vit-studio: error: "), err
    return err.removeprefix("vit-studio: error: ").strip()


def test_an_existing_out_is_refused_with_one_line_and_left_as_it_was(folder, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    out.write_bytes(b"a model the user keeps")
    assert main(["train", str(folder), *SMALL, *ONE_EPOCH, "--out", str(out)]) == 2
    assert one_error_line(capsys) == (
        f"{out} exists; add --overwrite to replace that run's files, --resume to continue it, "
        "or choose another --out"
    )
    assert out.read_bytes() == b"a model the user keeps"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["colours", "m.safetensors"]


def test_an_earlier_runs_checkpoint_or_metrics_alone_are_not_replaced_silently(
    folder, tmp_path, capsys
):
    out = tmp_path / "m.safetensors"
    (tmp_path / "m.metrics.jsonl").write_text('{"epoch": 1}\n')
    assert main(["train", str(folder), *SMALL, *ONE_EPOCH, "--out", str(out)]) == 2
    assert one_error_line(capsys).startswith(
        f"{tmp_path / 'm.metrics.jsonl'} exists (of an earlier run writing {out}); add --overwrite"
    )
    assert (tmp_path / "m.metrics.jsonl").read_text() == '{"epoch": 1}\n' and not out.exists()


def test_overwrite_replaces_an_earlier_run_and_says_so(folder, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    assert main(["train", str(folder), *SMALL, *ONE_EPOCH, "--out", str(out)]) == 0
    first = sha256(out)
    capsys.readouterr()
    args = ["train", str(folder), *SMALL, *ONE_EPOCH, "--seed", "7", "--out", str(out)]
    assert main([*args, "--overwrite"]) == 0
    printed = capsys.readouterr().out
    assert ("note: --overwrite: replacing m.safetensors, m.checkpoint.pt, m.metrics.jsonl of an "
            "earlier run") in printed  # fmt: skip
    assert sha256(out) != first


def test_resume_continues_the_files_that_exist_without_overwrite(folder, tmp_path):
    out = tmp_path / "m.safetensors"
    assert main(["train", str(folder), *SMALL, *ONE_EPOCH, "--out", str(out)]) == 0
    assert main(["train", str(folder), "--out", str(out), "--resume", "--device", "cpu"]) == 0


@pytest.mark.parametrize("flags", [[], ["--overwrite"]])
def test_the_base_model_is_never_the_out_not_even_with_overwrite(
    folder, base, tmp_path, capsys, flags
):
    before = sha256(base)
    args = ["finetune", str(folder), "--model", str(base), *ONE_EPOCH, "--out", str(base)]
    assert main([*args, *flags]) == 2
    assert one_error_line(capsys) == (
        f"{base}: the run would write mine.safetensors over the model it starts from ({base}); "
        "write the fine-tuned model to another file, so that its base stays as it is"
    )
    assert sha256(base) == before


def test_the_base_model_is_recognised_under_another_name(
    folder, base, tmp_path, capsys, monkeypatch
):
    # Relative, through "..", through a symbolic link: one file.
    link = tmp_path / "link.safetensors"
    link.symlink_to(base)
    monkeypatch.chdir(tmp_path / "colours")
    for out in ("../mine.safetensors", str(link)):
        args = ["finetune", str(folder), "--model", str(base), *ONE_EPOCH, "--out", out]
        assert main([*args, "--overwrite"]) == 2
        assert "over the model it starts from" in one_error_line(capsys)
    assert load_studio_model(base).meta.name == "tiny"


def test_the_bundled_model_is_never_the_out_of_a_finetune(folder, tmp_path, monkeypatch, capsys):
    # As in a clone: --out names the bundled model's own file, and no --model is given.
    bundled = tmp_path / "resources" / "models"
    save_model(random_model(), bundled / DEFAULT_MODEL_NAME)
    monkeypatch.setattr("vit_studio.engine.resources.BUNDLED_MODELS_DIR", bundled)
    before = sha256(bundled / DEFAULT_MODEL_NAME)
    args = ["finetune", str(folder), *ONE_EPOCH, "--out", str(bundled / DEFAULT_MODEL_NAME)]
    assert main([*args, "--overwrite"]) == 2
    assert "over the model it starts from" in one_error_line(capsys)
    assert sha256(bundled / DEFAULT_MODEL_NAME) == before
