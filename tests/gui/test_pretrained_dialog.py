"""Model ▸ Get Pretrained…: the catalogue with what is here, downloads in a worker with progress,
Cancel and one-line failures, and the downloaded model opened in the explorer. Files come from a
loopback server the tests start (tests/hub_server.py), never the internet."""

from __future__ import annotations

import pytest

from tests.gui.conftest import WAIT_MS
from tests.hub_server import hub_entry, serve_fake_hub, torchvision_entry
from vit_studio.engine.errors import Cancelled
from vit_studio.gui.pretrained_dialog import HERE, NOT_HERE, PretrainedDialog


@pytest.fixture
def hub(tmp_path, monkeypatch):
    yield from serve_fake_hub(tmp_path, monkeypatch)


@pytest.fixture
def entries(hub, monkeypatch):
    """The fake hub's torchvision file and timm repo, as the dialog's whole catalogue."""
    ((file, content),) = hub.torchvision_files.items()
    listed = [torchvision_entry(file, content), hub_entry("fake/vit-tiny")]
    monkeypatch.setattr("vit_studio.gui.pretrained_dialog.available_models", lambda: listed)
    monkeypatch.setattr("vit_studio.engine.hub.available_models", lambda: listed)  # the menu
    return listed


@pytest.fixture
def dialog(qtbot, entries):
    shown = PretrainedDialog()
    qtbot.addWidget(shown)
    yield shown
    shown.stop()


def test_opening_the_dialog_lists_the_catalogue_and_asks_no_server(dialog, entries, hub):
    assert [entry.name for entry in dialog.entries()] == [entry.name for entry in entries]
    assert [dialog.availability(entry.name) for entry in entries] == [NOT_HERE, NOT_HERE]
    assert hub.requests == []


def test_get_downloads_in_the_background_then_offers_the_model(qtbot, dialog, entries):
    seen = []
    dialog._client.progress.connect(seen.append)
    with qtbot.waitSignal(dialog.modelReady, timeout=WAIT_MS) as ready:
        dialog.get(entries[1])
    path = ready.args[0]
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()
    assert dialog.availability("fake/vit-tiny") == HERE
    assert seen and seen[-1].done == seen[-1].total > 0
    assert "MB of" in seen[-1].text()
    with qtbot.waitSignal(dialog.modelReady, timeout=WAIT_MS) as again:
        dialog.get(entries[1])  # here already: opened without a download
    assert again.args[0] == path


def test_a_server_that_is_gone_is_one_line_and_nothing_is_marked_here(qtbot, dialog, entries,
                                                                      hub):
    hub.stop()
    with qtbot.waitSignal(dialog._client.failed, timeout=WAIT_MS) as failed:
        dialog.get(entries[0])
    message = failed.args[0]
    assert "\n" not in message and message == dialog.status_text()
    assert dialog.availability("vit_fake") == NOT_HERE


def test_cancel_stops_the_download_and_says_get_resumes_it(qtbot, dialog, entries, monkeypatch):
    def endless(entry, progress, cancel):
        while True:  # a download that ends only when cancelled
            progress(1_000_000, 5_000_000)
            if cancel():
                raise Cancelled(f"{entry.name}: cancelled")
            qtbot.wait(10)

    monkeypatch.setattr("vit_studio.gui.workers.downloads.download", endless)
    with qtbot.waitSignal(dialog._client.progress, timeout=WAIT_MS):
        dialog.get(entries[0])
    assert dialog.downloading
    dialog.cancel()
    qtbot.waitUntil(lambda: not dialog.downloading, timeout=WAIT_MS)
    assert "cancelled; Get continues where it stopped" in dialog.status_text()


def test_the_explorer_opens_a_catalogued_model_after_getting_it(qtbot, loaded, entries):
    loaded.menus.fill_pretrained_menu()
    labels = [action.text() for action in loaded.menus.pretrained_menu.actions()]
    size = f"{entries[0].size_bytes / 1e6:,.0f} MB"
    assert labels == [f"{entries[0].title} — get ({size})", f"{entries[1].title} — get"]
    with qtbot.waitSignal(loaded.analysisReady, timeout=WAIT_MS):
        loaded.menus.pretrained_menu.actions()[0].trigger()
    assert loaded.model_summary.arch.hidden_dim == 192
    loaded.menus.fill_pretrained_menu()
    assert loaded.menus.pretrained_menu.actions()[0].text() == entries[0].title  # here now
