"""Failures a user can fix are told as one line with the fix, whichever library raised them."""

from __future__ import annotations

import errno
import logging

import torch
from safetensors import SafetensorError

from vit_studio.engine import errors
from vit_studio.engine.errors import StudioError, describe_failure, user_error


def test_a_full_disk_is_named_with_the_file_being_written(tmp_path):
    target = tmp_path / "m.safetensors"
    for exc in (
        OSError(errno.ENOSPC, "No space left on device"),
        SafetensorError(
            "Error while serializing: I/O error: No space left on device (os error 28)"
        ),
    ):
        message = str(user_error(exc, "writing the model", path=target, writing=True))
        assert message == (
            f"{target}: the disk is full while writing the model; free some space, or write to "
            "another disk"
        )


def test_torch_writers_full_disk_is_told_by_the_space_left(tmp_path, monkeypatch):
    # What torch.save raises when the disk takes less than it writes: no errno anywhere. With
    # space left, it was a limit (a quota, FAT32's 4 GB per file, ulimit -f), not a full disk.
    zip_error = RuntimeError(
        "[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"
    )
    target = tmp_path / "m.checkpoint.pt"
    assert str(user_error(zip_error, "writing the checkpoint", path=target, writing=True)) == (
        f"{target}: the file grew larger than this disk or account allows while writing the "
        "checkpoint; write to another disk, or raise the limit (FAT32 drives hold 4 GB per file)"
    )

    class Usage:
        free = 4096

    monkeypatch.setattr(errors.shutil, "disk_usage", lambda _folder: Usage)
    found = user_error(zip_error, "writing the checkpoint", path=target, writing=True)
    assert "the disk is full" in str(found)
    # Reading on a full disk is not a full-disk failure.
    assert user_error(zip_error, "reading the checkpoint", path=target) is None


def test_a_file_over_a_size_limit_is_told_as_a_limit_whichever_library_wrote_it(tmp_path):
    target = tmp_path / "m.safetensors"
    for exc in (
        OSError(errno.EFBIG, "File too large"),
        SafetensorError("Error while serializing: I/O error: File too large (os error 27)"),
    ):
        message = str(user_error(exc, "writing the model", path=target, writing=True))
        assert message.startswith(f"{target}: the file grew larger than this disk or account")


def test_a_folder_one_may_not_write_to_says_so_and_what_to_do(tmp_path):
    denied = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "out"))
    assert str(user_error(denied, "writing the model")) == (
        f"{tmp_path / 'out'}: permission denied while writing the model; choose a folder you can "
        "write to, or change its permissions"
    )
    read_only = OSError(errno.EROFS, "Read-only file system")
    assert "the disk is read-only" in str(user_error(read_only, "saving", path=tmp_path))


def test_a_vanished_file_is_reported_as_moved_or_deleted(tmp_path):
    gone = FileNotFoundError(errno.ENOENT, "No such file or directory", str(tmp_path / "a.png"))
    message = str(user_error(gone, "loading the images"))
    assert message.startswith(f"{tmp_path / 'a.png'}: not found while loading the images")
    assert "moved or deleted" in message


def test_running_out_of_memory_gives_the_fix_for_the_work_at_hand():
    fix = "lower the batch size or the image size"
    assert str(user_error(MemoryError(), "training", memory_fix=fix)) == (
        f"out of memory while training; {fix}"
    )
    cpu = RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 4 GB")
    assert str(user_error(cpu, "training", memory_fix=fix)).startswith("out of memory")
    gpu = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert str(user_error(gpu, "analysing a.png")) == (
        "out of GPU memory while analysing a.png; choose CPU as the device, or close other "
        "programs that use the GPU"
    )


def test_our_own_errors_pass_through_and_bugs_are_not_user_errors():
    ours = StudioError("a.png: not an image; save it as a PNG")
    assert user_error(ours, "analysing") is ours
    assert user_error(ValueError("bad index"), "analysing") is None


def test_a_bug_is_one_line_with_its_type_and_the_traceback_goes_to_the_log(caplog):
    with caplog.at_level(logging.ERROR):
        line = describe_failure(ValueError("first line\nsecond line"), "analysing a.png")
    assert line == "unexpected error while analysing a.png: ValueError: first line"
    assert caplog.records[0].exc_info is not None
