"""Atomic writes: all or nothing, with the permissions of an ordinary new file."""

import os
import stat

import pytest

from vit_studio.engine.fileio import atomic_path, write_text_atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "model.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.txt"]


def test_a_written_file_gets_the_users_default_permissions(tmp_path):
    write_text_atomic(tmp_path / "out.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    mode = stat.S_IMODE((tmp_path / "out.txt").stat().st_mode)
    assert mode == 0o666 & ~umask
