"""What a run may write over, as the CLI and the fine-tune panel ask it: never the model it
starts from (nor a file inside its folder), an earlier run's files only when told."""

from __future__ import annotations

import pytest

from vit_studio.engine.errors import StudioError
from vit_studio.engine.training.outputs_guard import (
    check_output,
    files_in_the_way,
    refuse_base_model,
    same_file,
)


def test_files_in_the_way_are_the_earlier_runs_model_checkpoint_and_metrics(tmp_path):
    out = tmp_path / "run.safetensors"
    assert files_in_the_way(out) == []
    (tmp_path / "run.checkpoint.pt").write_bytes(b"c")
    (tmp_path / "other.safetensors").write_bytes(b"not this run's")
    assert files_in_the_way(out) == [tmp_path / "run.checkpoint.pt"]
    out.write_bytes(b"m")
    assert files_in_the_way(out) == [out, tmp_path / "run.checkpoint.pt"]


def test_a_run_starting_from_a_checkpoint_may_not_write_that_checkpoint(tmp_path):
    # Fine-tuning from run.checkpoint.pt into run.safetensors would replace the checkpoint.
    base = tmp_path / "run.checkpoint.pt"
    base.write_bytes(b"weights")
    with pytest.raises(StudioError, match="run.checkpoint.pt over the model it starts from"):
        refuse_base_model(tmp_path / "run.safetensors", base)


def test_a_run_may_not_write_into_the_hugging_face_folder_it_starts_from(tmp_path):
    folder = tmp_path / "vit-base"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(StudioError, match="over the folder of the model it starts from"):
        refuse_base_model(folder / "model.safetensors", folder)
    refuse_base_model(tmp_path / "elsewhere.safetensors", folder)  # beside it is fine


def test_one_file_under_two_names_is_one_file_and_two_files_are_two(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_bytes(b"same bytes")
    second.write_bytes(b"same bytes")  # equal content is not the same file
    (tmp_path / "link").symlink_to(first)
    assert same_file(tmp_path / "link", first) and same_file(tmp_path / "sub" / ".." / "a", first)
    assert not same_file(first, second)
    assert same_file(tmp_path / "new", tmp_path / "." / "new")  # neither exists yet


def test_overwrite_and_resume_allow_an_earlier_run_but_never_the_base(tmp_path):
    out = tmp_path / "m.safetensors"
    out.write_bytes(b"m")
    with pytest.raises(StudioError, match="add --overwrite"):
        check_output(out)
    check_output(out, overwrite=True)
    check_output(out, resume=True)
    with pytest.raises(StudioError, match="over the model it starts from"):
        check_output(out, out, overwrite=True)
