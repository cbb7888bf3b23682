"""Analysis exports: one float32 NPZ layout, written atomically, and one JSON record."""

import numpy as np
import pytest
import torch

from tests.conftest import TINY_ARCH
from vit_studio.engine.analysis import analyze
from vit_studio.engine.export import analysis_arrays, analysis_record, write_npz
from vit_studio.engine.images import PreparedImage


@pytest.fixture
def analysis(tiny_model):
    size = TINY_ARCH.image_size
    tensor = torch.randn(3, size, size, generator=torch.Generator().manual_seed(0))
    pixels = np.zeros((size, size, 3), dtype=np.uint8)
    return analyze(tiny_model, PreparedImage(pixels=pixels, tensor=tensor))


def test_arrays_have_the_documented_names_shapes_and_float32(analysis):
    arrays = analysis_arrays(analysis)
    g, n = TINY_ARCH.grid_size, TINY_ARCH.num_tokens
    layers, heads, classes = TINY_ARCH.num_layers, TINY_ARCH.num_heads, TINY_ARCH.num_classes
    assert {name: array.shape for name, array in arrays.items()} == {
        "input": (3, 32, 32),
        "logits": (classes,),
        "probs": (classes,),
        "attentions": (layers, heads, n, n),
        "rollout": (g, g),
        "pos_similarity": (g, g, g, g),
        "mean_attention_distance": (layers, heads),
        "token_norms": (layers, n),
        "logit_lens": (layers, classes),
    }
    assert all(array.dtype == np.float32 for array in arrays.values())
    # The plain rollout: mean head fusion, nothing discarded, from the first layer, max 1.
    np.testing.assert_allclose(arrays["rollout"], analysis.rollout("mean", 0.0, 0), rtol=1e-6)
    assert arrays["rollout"].max() == pytest.approx(1.0)
    np.testing.assert_array_equal(arrays["probs"], analysis.probs.astype(np.float32))


def test_npz_round_trips_with_extra_arrays_in_float32(analysis, tmp_path):
    path = tmp_path / "sub" / "a.npz"
    view_map = np.ones((4, 4), dtype=np.float64)
    write_npz(path, analysis, {"view_map": view_map})
    expected = analysis_arrays(analysis) | {"view_map": view_map.astype(np.float32)}
    with np.load(path) as saved:
        assert sorted(saved.files) == sorted(expected)
        for name, array in expected.items():
            assert saved[name].dtype == np.float32
            np.testing.assert_array_equal(saved[name], array)
    assert [p.name for p in path.parent.iterdir()] == ["a.npz"]


def test_extra_array_may_not_replace_a_standard_one(analysis, tmp_path):
    with pytest.raises(ValueError, match="rollout"):
        write_npz(tmp_path / "a.npz", analysis, {"rollout": np.zeros((4, 4))})
    assert not list(tmp_path.iterdir())


def test_failed_write_leaves_the_previous_file_untouched(analysis, tmp_path, monkeypatch):
    path = tmp_path / "a.npz"
    path.write_bytes(b"previous")

    def fail(handle, **arrays):
        handle.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", fail)
    with pytest.raises(KeyboardInterrupt):
        write_npz(path, analysis)
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]


def test_record_lists_top_k_and_the_callers_timings_first(analysis):
    record = analysis_record(analysis, 3, {"load": 1.23456})
    assert list(record) == ["top_k", "timing_ms"]
    top = analysis.top_k(3)
    assert record["top_k"] == [
        {"label": p.label, "index": p.index, "probability": round(p.probability, 6)} for p in top
    ]
    assert list(record["timing_ms"]) == ["load", *analysis.timings_ms]
    assert record["timing_ms"]["load"] == 1.23
    assert all(round(ms, 2) == ms for ms in record["timing_ms"].values())


def test_record_without_caller_timings_holds_the_analysis_own(analysis):
    record = analysis_record(analysis, 1)
    assert len(record["top_k"]) == 1
    assert list(record["timing_ms"]) == list(analysis.timings_ms)
