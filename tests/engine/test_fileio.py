"""Atomic writes: all or nothing, with the permissions of an ordinary new file, and failures
the user can fix told as one line naming the file."""

import errno
import json
import os
import stat

import pytest
import torch
from safetensors import SafetensorError

from tests.conftest import fill_disk, random_model
from tests.size_limit import posix_only, run_size_limited
from vit_studio.engine.errors import StudioError
from vit_studio.engine.fileio import atomic_path, write_text_atomic
from vit_studio.engine.model import save_model


def default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("a bug in the writer")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.txt"]


def test_a_written_file_gets_the_users_default_permissions(tmp_path):
    write_text_atomic(tmp_path / "out.txt", "x")
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == default_mode()


def test_a_writer_that_replaces_its_temporary_file_still_gives_default_permissions(tmp_path):
    with atomic_path(tmp_path / "out.bin") as tmp:
        tmp.unlink()  # as the safetensors writer does: it creates the file anew, owner-only
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
    assert stat.S_IMODE((tmp_path / "out.bin").stat().st_mode) == default_mode()


def test_a_saved_model_gets_the_users_default_permissions(tmp_path):
    path = save_model(random_model(), tmp_path / "m.safetensors")
    assert stat.S_IMODE(path.stat().st_mode) == default_mode()


def test_a_folder_one_may_not_write_to_is_one_line_naming_it(tmp_path, monkeypatch):
    # What mkstemp raises in a folder without write permission (root is never refused, so the
    # refusal is made here rather than with chmod).
    def refuse(*_args, **kwargs):
        raise PermissionError(13, "Permission denied", str(kwargs["dir"]))

    monkeypatch.setattr("vit_studio.engine.fileio.tempfile.mkstemp", refuse)
    with pytest.raises(StudioError) as raised:
        write_text_atomic(tmp_path / "out.txt", "x", "the metrics")
    assert str(raised.value) == (
        f"{tmp_path / 'out.txt'}: permission denied while writing the metrics; choose a folder "
        "you can write to, or change its permissions"
    )


def test_on_a_full_disk_a_model_save_names_the_file_and_leaves_the_old_one(small_disk):
    target = small_disk / "m.safetensors"
    target.write_bytes(b"the last good model")
    fill_disk(small_disk)
    with pytest.raises(StudioError) as raised:
        save_model(random_model(), target)
    assert str(raised.value) == (
        f"{target}: the disk is full while writing the model; free some space, or write to "
        "another disk"
    )
    assert target.read_bytes() == b"the last good model"
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "m.safetensors"]


def test_on_a_full_disk_torch_save_is_told_as_a_full_disk_too(small_disk):
    fill_disk(small_disk)
    with pytest.raises(StudioError, match="the disk is full while writing the checkpoint"), \
            atomic_path(small_disk / "c.pt", "the checkpoint") as tmp:  # fmt: skip
        torch.save({"weights": torch.zeros(100_000)}, tmp)
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]


OLD, NEW = b"the last good model " * 1000, b"the new model " * 5000


def interrupted_replacement(target, monkeypatch, step: str) -> None:
    """Replace `target`'s OLD content with NEW through `atomic_path`, failing at `step` as a
    failing disk or a kill there would."""
    failure = OSError(errno.EIO, "Input/output error")
    real_fsync, real_replace = os.fsync, os.replace
    calls = {"fsync": 0}

    def fsync(fd):
        calls["fsync"] += 1
        # The first flush is the file's (before the rename), the second its folder's (after).
        if (step, calls["fsync"]) in (("fsync file", 1), ("fsync folder", 2)):
            raise failure
        real_fsync(fd)

    def replace(source, destination):
        if step == "rename":
            raise failure
        real_replace(source, destination)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr("vit_studio.engine.fileio._F_FULLFSYNC", None, raising=False)
    with (
        pytest.raises(StudioError, match="Input/output error"),
        atomic_path(target) as tmp,
        open(tmp, "wb") as handle,
    ):
        handle.write(NEW[: len(NEW) // 2])
        if step == "write":
            raise failure
        handle.write(NEW[len(NEW) // 2 :])


@pytest.mark.parametrize("step", ["write", "fsync file", "rename", "fsync folder"])
def test_a_write_interrupted_at_any_step_leaves_the_old_file_or_the_new_one(
    tmp_path, monkeypatch, step
):
    target = tmp_path / "model.safetensors"
    target.write_bytes(OLD)
    interrupted_replacement(target, monkeypatch, step)
    # Before the rename the old file stays; once renamed, the new one is whole (only its
    # folder's flush failed, and that is said).
    assert target.read_bytes() == (NEW if step == "fsync folder" else OLD)
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_a_file_that_is_not_flushed_is_never_renamed_over_the_old_one(tmp_path, monkeypatch):
    # The ordering itself: the rename must wait for the flush, else a power cut right after it
    # can leave the name pointing at data that never reached the disk.
    order = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (order.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (order.append("rename"), real_replace(a, b))[1])
    monkeypatch.setattr("vit_studio.engine.fileio._F_FULLFSYNC", None, raising=False)
    write_text_atomic(tmp_path / "settings.json", "{}")
    assert order == ["fsync", "rename", "fsync"]


@posix_only
def test_under_a_file_size_limit_every_writer_names_the_file_and_keeps_the_old_one(tmp_path):
    # No root needed: each library's write fails past the limit as on a full disk.
    done = run_size_limited(64_000, "-m", "tests.engine.write_under_size_limit", str(tmp_path))
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(results) == 4
    for result in results:
        assert result["error"] is not None, result["file"]
        assert result["error"].startswith(f"{result['file']}: the file grew larger than this disk")
        assert "\n" not in result["error"] and "another disk" in result["error"]
        assert result["old_intact"] and result["others"] == [], result


def test_a_full_disk_at_the_write_call_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    # No root needed: safetensors' own error for a full disk, raised half-way through its write.
    def full_half_way(tensors, filename, metadata=None):
        with open(filename, "wb") as handle:
            handle.write(b"\0" * 1000)
        raise SafetensorError(
            "Error while serializing: I/O error: No space left on device (os error 28)"
        )

    target = tmp_path / "m.safetensors"
    target.write_bytes(b"the last good model")
    # Where save_model finds it when it writes (it imports safetensors.torch, and torch, then).
    monkeypatch.setattr("safetensors.torch.save_file", full_half_way)
    with pytest.raises(StudioError) as raised:
        save_model(random_model(), target)
    assert str(raised.value) == (
        f"{target}: the disk is full while writing the model; free some space, or write to "
        "another disk"
    )
    assert target.read_bytes() == b"the last good model"
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]
