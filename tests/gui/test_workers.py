"""Workers own their work in their own threads; the newest request wins; failures are one line."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import QSize

from tests.conftest import write_image
from tests.gui.conftest import WAIT_MS
from vit_studio.engine.errors import StudioError
from vit_studio.gui.workers import (
    InferenceClient,
    Ledger,
    ThumbnailLoader,
    describe_failure,
    thumbnail,
)


@pytest.fixture
def client(qtbot):
    client = InferenceClient(num_threads=1)
    yield client
    assert client.stop()


def test_a_new_request_supersedes_every_earlier_one_of_its_kind():
    ledger = Ledger()
    first = ledger.issue("analysis")
    model = ledger.issue("model")
    assert ledger.is_current("analysis", first) and ledger.is_current("model", model)
    second = ledger.issue("analysis")
    assert not ledger.is_current("analysis", first)
    assert ledger.is_current("analysis", second) and ledger.is_current("model", model)


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


def test_a_failure_is_described_in_one_line(caplog):
    assert describe_failure(StudioError("x.png: corrupt; re-export it"), "opening") == (
        "x.png: corrupt; re-export it"
    )
    oom = describe_failure(torch.cuda.OutOfMemoryError("CUDA out of memory"), "analysing a.png")
    assert oom.startswith("out of GPU memory while analysing a.png; choose CPU")
    bug = describe_failure(KeyError("layer"), "analysing a.png")
    assert bug == "unexpected error while analysing a.png: KeyError: 'layer'"
    assert "KeyError" in caplog.text  # the traceback goes to the log, not to the user


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
