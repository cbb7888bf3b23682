"""Folder predictions: batched top-k equal to stock torchvision image by image, bad files as rows,
the batch size obeyed, files decoded ahead in a pool without changing the order, cancel."""

import threading

import pytest
import torch

from tests.conftest import write_image
from tests.stock_predictions import stock_top_k
from vit_studio.engine import batch
from vit_studio.engine.batch import (
    CPU_BATCH_SIZE,
    default_batch_size,
    default_decode_workers,
    iter_predictions,
    predict_files,
)
from vit_studio.engine.errors import Cancelled, StudioError


@pytest.fixture
def files(tmp_path):
    paths = [write_image(tmp_path / f"img{i}.png", size=(40 + i, 30), seed=i) for i in range(5)]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture")
    paths.insert(2, broken)
    return paths


def test_batched_top_k_equals_stock_torchvision_image_by_image(tiny_model, files):
    results = predict_files(tiny_model, files, top_k=3, batch_size=4, workers=2)
    assert [r.path for r in results] == files
    for result in results:
        if result.error:
            continue
        indices, probabilities = stock_top_k(tiny_model, result.path, 3)
        assert [p.index for p in result.predictions] == indices
        assert [p.label for p in result.predictions] == [tiny_model.label(i) for i in indices]
        assert [p.probability for p in result.predictions] == pytest.approx(probabilities,
                                                                            abs=1e-5)


def test_a_bad_file_is_a_row_with_its_reason(tiny_model, files):
    results = predict_files(tiny_model, files, top_k=2, batch_size=2)
    assert results[2].error == "not an image" and results[2].predictions == ()
    assert all(r.predictions and not r.error for i, r in enumerate(results) if i != 2)


def test_a_batch_of_only_bad_files_is_rows_of_errors(tiny_model, tmp_path):
    bad = [tmp_path / "a.png", tmp_path / "b.png"]
    for path in bad:
        path.write_bytes(b"")
    assert [r.error for r in predict_files(tiny_model, bad, batch_size=2)] == ["empty"] * 2


def test_the_model_sees_batches_of_the_size_asked(tiny_model, files):
    good = [path for path in files if path.suffix == ".png"]
    seen = []
    tiny_model.module.register_forward_pre_hook(lambda module, args: seen.append(len(args[0])))
    list(iter_predictions(tiny_model, good, batch_size=3))
    assert seen == [3, 2]
    seen.clear()
    list(iter_predictions(tiny_model, good * 8))
    assert default_batch_size(torch.device("cpu")) == CPU_BATCH_SIZE == 32
    assert seen == [32, 8]
    seen.clear()
    list(iter_predictions(tiny_model, files, batch_size=4))
    assert seen == [3, 2]  # the broken file is a row of the first batch, not an input


def test_files_that_finish_decoding_out_of_order_keep_their_order(tiny_model, files,
                                                                  monkeypatch):
    # The first file's decoding waits until the third has been decoded, in another thread.
    third_done = threading.Event()
    finished = []
    real_open = batch.open_image

    def open_image(path):
        if path == files[0]:
            assert third_done.wait(10)
        image = real_open(path)
        finished.append(path)
        if path == files[3]:
            third_done.set()
        return image

    monkeypatch.setattr(batch, "open_image", open_image)
    results = predict_files(tiny_model, files, batch_size=4, workers=3)
    assert finished.index(files[3]) < finished.index(files[0])
    assert [r.path for r in results] == files
    assert results == predict_files(tiny_model, files, batch_size=4, workers=0)


def test_progress_is_reported_per_batch_and_cancel_stops_before_the_next(tiny_model, files):
    seen = []
    predict_files(tiny_model, files, batch_size=4, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(4, 6), (6, 6)]
    with pytest.raises(Cancelled):
        predict_files(tiny_model, files, batch_size=4, progress=lambda d, t: seen.append(d),
                      cancelled=lambda: len(seen) > 2)
    assert seen[2:] == [4]


def test_stopping_early_stops_the_decoding_threads(tiny_model, files):
    batches = iter_predictions(tiny_model, files * 20, batch_size=2, workers=2)
    next(batches)
    assert any(t.name.startswith("decode") for t in threading.enumerate())
    batches.close()
    assert not any(t.name.startswith("decode") for t in threading.enumerate())


def test_batch_size_and_top_k_below_one_are_refused(tiny_model, files):
    for options in ({"batch_size": 0}, {"top_k": 0}):
        with pytest.raises(StudioError, match="must be at least 1"):
            iter_predictions(tiny_model, files, **options)


def test_a_gpu_gets_bigger_batches_and_more_decoding_threads_than_a_cpu():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert default_batch_size(gpu) > default_batch_size(cpu)
    assert 1 <= default_decode_workers(cpu) <= 4
    assert default_decode_workers(gpu) >= default_decode_workers(cpu)
