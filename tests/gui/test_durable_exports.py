"""What the window writes reaches the disk before it takes its name, and its folder after: the
settings when it closes, the view PNG (which Qt wrote in place, half a picture after a crash),
the analysis JSON and NPZ."""

from __future__ import annotations

import os
import threading

from tests.durability import SyncLog
from tests.gui.conftest import WAIT_MS, make_settings, open_window


def test_closing_the_window_flushes_the_settings_folder(qtbot, tmp_path, monkeypatch):
    log = SyncLog(monkeypatch)
    window = open_window(qtbot, make_settings(tmp_path / "settings.ini"))
    window.close()
    assert window.shutdown()
    assert (tmp_path / "settings.ini").is_file() and log.flushed(tmp_path)


def test_the_windows_exports_reach_the_disk_before_they_take_their_names(
    qtbot, loaded, tmp_path, monkeypatch
):
    # A view PNG was written in place by Qt: a crash half-way left half a picture.
    log = SyncLog(monkeypatch)
    for name in ("view.png", "analysis.json", "analysis.npz"):
        with qtbot.waitSignal(loaded.exportFinished, timeout=WAIT_MS):
            if name.endswith(".png"):
                loaded.export_view_png(tmp_path / name)
            else:
                loaded.export_analysis(tmp_path / name)
        assert log.replaced_durably(tmp_path / name), name


def test_the_window_writes_its_exports_outside_the_gui_thread(qtbot, loaded, tmp_path, monkeypatch):
    # Encoding a window-sized PNG and flushing it to the disk held the GUI thread 100 ms and more.
    threads = []
    real_replace = os.replace

    def noting_thread(source, target):
        threads.append(threading.current_thread())
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", noting_thread)
    for name in ("view.png", "analysis.json", "analysis.npz"):
        with qtbot.waitSignal(loaded.exportFinished, timeout=WAIT_MS):
            if name.endswith(".png"):
                loaded.export_view_png(tmp_path / name)
            else:
                loaded.export_analysis(tmp_path / name)
    assert len(threads) == 3 and threading.main_thread() not in threads
