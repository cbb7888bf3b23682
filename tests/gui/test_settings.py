"""What changes with every image opened reaches the settings file once the changes pause, not
once per image: the window's GUI thread does not wait for the disk while a user steps through a
folder, and nothing is lost when the window closes."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings

from tests.gui.conftest import make_settings
from vit_studio.gui.settings import BATCHED_WRITE_MS


def on_disk(file: Path, key: str) -> object:
    """The value in the file, as a second program starting now would read it."""
    return QSettings(str(file), QSettings.Format.IniFormat).value(key)


def test_images_opened_in_quick_succession_are_written_once_the_opening_pauses(qtbot, tmp_path):
    file = tmp_path / "settings.ini"
    settings = make_settings(file)
    images = [tmp_path / f"photo{k}.jpg" for k in range(5)]
    for image in images:
        settings.add_recent_file(image)
        settings.last_folder = image.parent
    qtbot.wait(50)  # the event loop runs: QSettings would have written each change by now
    assert settings.recent_files == images[::-1]  # this program sees every change at once
    assert on_disk(file, "files/recent") is None and on_disk(file, "files/last_folder") is None
    qtbot.waitUntil(lambda: on_disk(file, "files/recent") is not None,
                    timeout=BATCHED_WRITE_MS + 3000)  # fmt: skip
    assert make_settings(file).recent_files == images[::-1]
    assert make_settings(file).last_folder == tmp_path


def test_a_sync_writes_what_is_waiting_at_once(qtbot, tmp_path):
    file = tmp_path / "settings.ini"
    settings = make_settings(file)
    settings.add_recent_file(tmp_path / "cat.jpg")
    settings.sync()  # what the window does when it closes
    assert make_settings(file).recent_files == [tmp_path / "cat.jpg"]


def test_settings_changed_less_often_are_written_as_before(qtbot, tmp_path):
    file = tmp_path / "settings.ini"
    settings = make_settings(file)
    settings.device = "cpu"
    qtbot.waitUntil(lambda: on_disk(file, "run/device") == "cpu", timeout=3000)
