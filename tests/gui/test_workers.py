"""The inference and thumbnail workers: each owns its work in its own thread, the newest request
wins, failures come back as one line."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSize

from tests.conftest import write_image
from tests.gui.conftest import WAIT_MS
from vit_studio.gui.workers.inference import InferenceClient
from vit_studio.gui.workers.thumbnails import ThumbnailLoader, thumbnail


@pytest.fixture
def client(qtbot):
    client = InferenceClient(num_threads=1)
    yield client
    assert client.stop()


def test_only_the_newest_analysis_comes_back(qtbot, client, model_file, images):
    with qtbot.waitSignal(client.modelReady, timeout=WAIT_MS) as ready:
        client.load_model(model_file, "cpu")
    assert ready.args[0].device == "cpu" and ready.args[0].name == "tiny"
    results = []
    client.analysisReady.connect(results.append)
    with qtbot.waitSignal(client.busyChanged, timeout=WAIT_MS,
                          check_params_cb=lambda busy: not busy):
        for path in images:
            client.analyze(path)
    assert [r.path for r in results] == [images[-1]]
    assert results[0].analysis.model_name == "tiny" and results[0].total_ms > 0


def test_failures_come_back_as_signals_and_the_worker_lives_on(qtbot, client, model_file,
                                                              images, tmp_path):
    with qtbot.waitSignal(client.failed, timeout=WAIT_MS) as failed:
        client.analyze(images[0])  # no model yet
    assert failed.args == ["analysis", "no model is loaded yet; open one with Model ▸ Open "
                           "Model…"]
    with qtbot.waitSignal(client.failed, timeout=WAIT_MS) as failed:
        client.load_model(tmp_path / "missing.safetensors", "cpu")
    assert failed.args[0] == "model" and "missing.safetensors" in failed.args[1]
    with qtbot.waitSignal(client.analysisReady, timeout=WAIT_MS):
        client.load_model(model_file, "cpu")
        client.analyze(images[0], gradient_classes=2)


def test_a_new_model_drops_the_analyses_of_the_previous_one(qtbot, client, model_file,
                                                           eight_class_model_file, images):
    with qtbot.waitSignal(client.modelReady, timeout=WAIT_MS):
        client.load_model(model_file, "cpu")
    results = []
    client.analysisReady.connect(results.append)
    with qtbot.waitSignal(client.modelReady, timeout=WAIT_MS):
        client.analyze(images[0])
        client.load_model(eight_class_model_file, "cpu")
    qtbot.waitUntil(lambda: not client.busy, timeout=WAIT_MS)
    assert results == []


def test_thumbnails_are_small_upright_and_null_for_bad_files(tmp_path):
    wide = write_image(tmp_path / "wide.png", size=(900, 300))
    image = thumbnail(wide, 72)
    assert image.size() == QSize(72, 24)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    assert thumbnail(bad, 72).isNull()


def test_thumbnails_arrive_per_row_for_the_newest_folder_only(qtbot, tmp_path):
    loader = ThumbnailLoader()
    old = [write_image(tmp_path / "old" / f"{i}.png", size=(300, 300)) for i in range(20)]
    new = [write_image(tmp_path / "new" / f"{i}.png", size=(64, 32)) for i in range(3)]
    rows = []
    loader.thumbnailReady.connect(lambda row, image: rows.append((row, image.height())))
    try:
        loader.load(old, 48)
        loader.load(new, 48)
        qtbot.waitUntil(lambda: len(rows) >= 3, timeout=WAIT_MS)
        assert rows == [(0, 24), (1, 24), (2, 24)]  # none of the superseded 48 × 48 ones
    finally:
        assert loader.stop()
