"""Counts read as English."""

from vit_studio.engine.text import counted


def test_one_is_singular_and_everything_else_plural():
    assert counted(1, "file") == "1 file"
    assert counted(0, "file") == "0 files"
    assert counted(2, "other entry", "other entries") == "2 other entries"
