"""Counts and durations read as English."""

from vit_studio.engine.text import clock_text, counted, elapsed_text


def test_one_is_singular_and_everything_else_plural():
    assert counted(1, "file") == "1 file"
    assert counted(0, "file") == "0 files"
    assert counted(2, "other entry", "other entries") == "2 other entries"


def test_time_left_reads_like_a_clock():
    assert clock_text(65.9) == "1:05"
    assert clock_text(3723) == "1:02:03"


def test_time_taken_is_rounded_to_the_unit_people_use():
    assert elapsed_text(42.4) == "42 s"
    assert elapsed_text(210) == "3.5 min"
    assert elapsed_text(4320) == "1.2 h"
