"""The folder export in its thread: rows streamed to the CSV batch by batch, and a cancel that
keeps the finished rows and says how many."""

from __future__ import annotations

import csv

import pytest

from tests.gui.conftest import WAIT_MS
from tests.gui.folder_exports import gate_decoding_after, many
from vit_studio.engine.checkpoints import load_model
from vit_studio.engine.predictions_csv import image_entries, write_predictions_csv
from vit_studio.gui.workers.batch_export import BatchExporter, BatchJob, BatchSummary


@pytest.fixture
def exporter():
    exporter = BatchExporter(num_threads=1)
    yield exporter
    assert exporter.stop(), "the export thread did not stop"


def test_the_export_writes_what_the_engine_writes_and_reports_each_batch(qtbot, exporter,
                                                                         model_file, images,
                                                                         tmp_path):
    out = tmp_path / "gui.csv"
    progress = []
    exporter.progress.connect(lambda done, total: progress.append((done, total)))
    with qtbot.waitSignal(exporter.finished, timeout=WAIT_MS) as blocker:
        exporter.start(BatchJob(model_file, "cpu", tuple(images), out, batch_size=2))
    assert blocker.args == [BatchSummary(out, images=3, failures=0, total=3)]
    assert progress == [(2, 3), (3, 3)]
    expected = tmp_path / "engine.csv"
    write_predictions_csv(expected, load_model(model_file), image_entries(images), batch_size=2)
    assert_same_predictions(out, expected)


def assert_same_predictions(ours, theirs):
    """The same rows and labels; probabilities to the float rounding of another thread count."""
    with open(ours, newline="") as a, open(theirs, newline="") as b:
        rows, expected_rows = list(csv.reader(a)), list(csv.reader(b))
    assert rows[0] == expected_rows[0] and len(rows) == len(expected_rows)
    for row, expected_row in zip(rows[1:], expected_rows[1:], strict=True):
        for cell, expected_cell in zip(row, expected_row, strict=True):
            try:
                assert float(cell) == pytest.approx(float(expected_cell), abs=2e-6)
            except ValueError:
                assert cell == expected_cell


def test_a_cancel_keeps_the_finished_rows_and_says_how_many(qtbot, exporter, model_file, images,
                                                            tmp_path, monkeypatch):
    files = many(images, 40)
    gate = gate_decoding_after(monkeypatch, files[:8])

    def cancel_at_the_first_rows(done, total):
        exporter.cancel()
        gate.set()

    exporter.progress.connect(cancel_at_the_first_rows)
    finished = []
    exporter.finished.connect(finished.append)
    out = tmp_path / "cancelled.csv"
    with qtbot.waitSignal(exporter.stopped, timeout=WAIT_MS) as blocker:
        exporter.start(BatchJob(model_file, "cpu", tuple(files), out, batch_size=8))
    (summary,) = blocker.args
    rows = list(csv.DictReader(out.open()))
    # The cancel lands after the first batch or the second (already being decoded).
    assert summary.images == len(rows) in (8, 16) and summary.total == 40
    assert [r["image"] for r in rows] == [str(p) for p in files[: len(rows)]]
    assert all(r["label_1"] for r in rows)
    qtbot.waitUntil(lambda: not exporter.running, timeout=WAIT_MS)
    assert finished == [] and not list(tmp_path.glob(".*.tmp"))
