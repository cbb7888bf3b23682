"""Folder predictions: batched top-k that match one-by-one analysis, bad files as rows, cancel."""

import csv
import io

import pytest

from tests.conftest import write_image
from vit_studio.engine.analysis import analyze
from vit_studio.engine.batch import (
    predict_files,
    predictions_csv,
    write_predictions_csv,
)
from vit_studio.engine.errors import Cancelled
from vit_studio.engine.images import open_image, prepare_image


@pytest.fixture
def files(tmp_path):
    paths = [write_image(tmp_path / f"img{i}.png", seed=i) for i in range(5)]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    paths.insert(2, broken)
    return paths


def test_batched_top_k_equals_the_analysis_of_each_image(tiny_model, files):
    results = predict_files(tiny_model, files, top_k=3, batch_size=4)
    assert [r.path for r in results] == files
    for result in results:
        if result.error:
            continue
        prepared = prepare_image(open_image(result.path), tiny_model.meta.preprocessing)
        expected = analyze(tiny_model, prepared).top_k(3)
        assert [p.index for p in result.predictions] == [p.index for p in expected]
        for got, want in zip(result.predictions, expected, strict=True):
            assert got.probability == pytest.approx(want.probability, abs=1e-5)


def test_a_bad_file_is_a_row_with_its_reason(tiny_model, files):
    results = predict_files(tiny_model, files, top_k=2, batch_size=2)
    assert results[2].error == "not an image" and results[2].predictions == ()
    assert all(r.predictions and not r.error for i, r in enumerate(results) if i != 2)


def test_progress_is_reported_per_batch_and_cancel_stops_before_the_next(tiny_model, files):
    seen = []
    predict_files(tiny_model, files, batch_size=4, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(4, 6), (6, 6)]
    with pytest.raises(Cancelled):
        predict_files(tiny_model, files, batch_size=4, progress=lambda d, t: seen.append(d),
                      cancelled=lambda: len(seen) > 2)


def test_csv_has_one_row_per_file_and_k_label_probability_pairs(tiny_model, files, tmp_path):
    results = predict_files(tiny_model, files, top_k=2)
    rows = list(csv.reader(io.StringIO(predictions_csv(results, 2))))
    assert rows[0] == ["image", "label_1", "probability_1", "label_2", "probability_2", "error"]
    assert len(rows) == 1 + len(files)
    assert rows[3] == [str(files[2]), "", "", "", "", "not an image"]
    assert float(rows[1][2]) >= float(rows[1][4])
    out = tmp_path / "out" / "predictions.csv"
    write_predictions_csv(out, results, 2)
    assert out.read_text() == predictions_csv(results, 2)
