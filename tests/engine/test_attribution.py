"""Rollout, gradient rollout, distances and similarities on arrays small enough to check by hand."""

import numpy as np
import pytest

from vit_studio.engine import attribution
from vit_studio.engine.errors import StudioError


def random_attention(layers=3, heads=2, grid=2, seed=0):
    """Row-stochastic attention `[L, H, N, N]` that is far from symmetric."""
    rng = np.random.default_rng(seed)
    n = grid * grid + 1
    logits = rng.normal(scale=2.0, size=(layers, heads, n, n))
    weights = np.exp(logits)
    return (weights / weights.sum(-1, keepdims=True)).astype(np.float32)


def reference_rollout(fused_layers):
    """Abnar & Zuidema written out longhand: (A + I) row-normalised, later layers on the left."""
    n = fused_layers[0].shape[0]
    result = np.eye(n)
    for layer in fused_layers:
        mixed = layer + np.eye(n)
        mixed = mixed / mixed.sum(axis=1, keepdims=True)
        result = mixed @ result
    return result


def test_rollout_matches_row_normalised_product_of_layers_in_order():
    attentions = random_attention()
    fused = attentions.mean(axis=1)
    expected_row = reference_rollout(fused)[0, 1:]
    got = attribution.attention_rollout(attentions, grid_size=2)
    np.testing.assert_allclose(got.ravel(), expected_row / expected_row.max(), rtol=1e-5)


def test_rollout_differs_from_column_normalisation_and_reversed_layer_order():
    attentions = random_attention(seed=3)
    got = attribution.attention_rollout(attentions, grid_size=2).ravel()
    fused = attentions.mean(axis=1)
    n = fused.shape[-1]
    by_columns = np.eye(n)
    for layer in fused:
        mixed = layer + np.eye(n)
        by_columns = (mixed / mixed.sum(axis=0, keepdims=True)) @ by_columns
    reversed_order = reference_rollout(fused[::-1])[0, 1:]
    assert not np.allclose(got, by_columns[0, 1:] / by_columns[0, 1:].max(), atol=1e-3)
    assert not np.allclose(got, reversed_order / reversed_order.max(), atol=1e-3)


def test_single_layer_rollout_is_half_attention_plus_half_identity():
    attentions = random_attention(layers=1, heads=1)
    matrix = attribution.rollout_matrix(attentions.mean(axis=1))
    np.testing.assert_allclose(matrix, 0.5 * attentions[0, 0] + 0.5 * np.eye(5), rtol=1e-5)


def test_rollout_rows_stay_stochastic():
    matrix = attribution.rollout_matrix(random_attention(layers=6).mean(axis=1), discard_ratio=0.5)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, rtol=1e-5)


def test_start_layer_skips_the_layers_below_it():
    attentions = random_attention(layers=4)
    got = attribution.attention_rollout(attentions, grid_size=2, start_layer=2)
    expected = attribution.attention_rollout(attentions[2:], grid_size=2)
    np.testing.assert_allclose(got, expected)
    with pytest.raises(StudioError, match="start layer"):
        attribution.attention_rollout(attentions, grid_size=2, start_layer=4)


@pytest.mark.parametrize("fusion, reducer", [("mean", np.mean), ("max", np.max), ("min", np.min)])
def test_head_fusion_combines_heads_per_layer(fusion, reducer):
    attentions = random_attention(heads=4)
    np.testing.assert_allclose(
        attribution.fuse_heads(attentions, fusion), reducer(attentions, axis=1)
    )


def test_unknown_head_fusion_is_a_user_error():
    with pytest.raises(StudioError, match="head fusion"):
        attribution.fuse_heads(random_attention(), "median")


def test_discard_zeroes_the_lowest_share_but_never_the_class_token_entry():
    fused = random_attention(layers=2, heads=1).mean(axis=1)
    fused[:, 0, 0] = 0.0  # the smallest entry of all: discard must still keep it
    kept = attribution._discard_lowest(fused, discard_ratio=0.6)
    n = fused.shape[-1]
    for layer in range(2):
        zeroed = np.flatnonzero(kept[layer] == 0.0)
        assert len(zeroed) == int(n * n * 0.6) + 1  # the discarded ones plus the protected zero
        survivors = kept[layer][kept[layer] > 0]
        assert survivors.min() >= np.sort(fused[layer].ravel())[int(n * n * 0.6)]
    assert np.all(kept[:, 0, 0] == fused[:, 0, 0])


def test_discard_ratio_outside_unit_interval_is_refused():
    with pytest.raises(StudioError, match="discard ratio"):
        attribution.attention_rollout(random_attention(), 2, discard_ratio=1.0)


def test_gradient_relevance_is_mean_over_heads_of_positive_part():
    attentions = random_attention(heads=3)
    gradients = np.random.default_rng(1).normal(size=attentions.shape).astype(np.float32)
    relevance = attribution.gradient_relevance(attentions, gradients)
    np.testing.assert_allclose(relevance, np.maximum(attentions * gradients, 0).mean(axis=1))


def test_gradient_rollout_uses_the_same_rollout_on_relevance():
    relevance = random_attention(heads=1).mean(axis=1)
    got = attribution.gradient_rollout(relevance, grid_size=2)
    expected = reference_rollout(relevance)[0, 1:]
    np.testing.assert_allclose(got.ravel(), expected / expected.max(), rtol=1e-5)


def test_patch_centre_distances_on_a_two_by_two_grid():
    distances = attribution.patch_centre_distances(grid_size=2, patch_size=10)
    assert distances[0, 1] == pytest.approx(10.0)
    assert distances[0, 2] == pytest.approx(10.0)
    assert distances[0, 3] == pytest.approx(np.hypot(10, 10))
    assert np.all(np.diag(distances) == 0)


def test_mean_attention_distance_is_zero_for_self_attention_and_ignores_class_token():
    n = 5
    attentions = np.zeros((1, 2, n, n), dtype=np.float32)
    attentions[0, 0, :, 0] = 0.5  # half of every query's attention on the class token...
    attentions[0, 0, np.arange(1, n), np.arange(1, n)] = 0.5  # ...half on itself
    attentions[0, 0, 0, 0] = 0.5
    attentions[0, 1, :, 1:] = 0.25  # uniform over the four patches
    distances = attribution.mean_attention_distance(attentions, grid_size=2, patch_size=10)
    assert distances[0, 0] == pytest.approx(0.0)
    uniform = attribution.patch_centre_distances(2, 10).mean()
    assert distances[0, 1] == pytest.approx(uniform)


def test_pos_embedding_similarity_is_cosine_between_patch_embeddings():
    rng = np.random.default_rng(0)
    pos = rng.normal(size=(1 + 9, 16))
    similarity = attribution.pos_embedding_similarity(pos, grid_size=3)
    assert similarity.shape == (3, 3, 3, 3)
    a, b = pos[1 + 4], pos[1 + 7]  # patch (1, 1) and patch (2, 1)
    expected = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert similarity[1, 1, 2, 1] == pytest.approx(expected, rel=1e-5)
    for row in range(3):
        for col in range(3):
            assert similarity[row, col, row, col] == pytest.approx(1.0, rel=1e-5)


def test_cls_and_patch_attention_maps_come_from_the_right_rows():
    attentions = random_attention(layers=2, heads=3)
    cls_maps = attribution.cls_attention_maps(attentions, grid_size=2)
    np.testing.assert_array_equal(cls_maps[1, 2].ravel(), attentions[1, 2, 0, 1:])
    patch_map = attribution.patch_attention_map(attentions, 2, layer=1, patch=3, head=0)
    np.testing.assert_array_equal(patch_map.ravel(), attentions[1, 0, 4, 1:])
    mean_map = attribution.patch_attention_map(attentions, 2, layer=1, patch=3)
    np.testing.assert_allclose(mean_map.ravel(), attentions[1, :, 4, 1:].mean(axis=0))
