"""Explanations computed from cached attention arrays: rollout, gradient rollout, distances.

Everything here is plain numpy on arrays an `Analysis` already holds, so moving a control in the
GUI (head fusion, discard ratio, start layer, class) recomputes in milliseconds without the model.
Shapes: `L` layers, `H` heads, `N = 1 + g*g` tokens (class token first), `g` patches per side.
"""

from __future__ import annotations

import numpy as np

from vit_studio.engine.errors import StudioError

HEAD_FUSIONS = ("mean", "max", "min")


def cls_attention_maps(attentions: np.ndarray, grid_size: int) -> np.ndarray:
    """Class-token attention to every patch, `[L, H, N, N] -> [L, H, g, g]`."""
    layers, heads = attentions.shape[:2]
    return attentions[:, :, 0, 1:].reshape(layers, heads, grid_size, grid_size)


def patch_attention_map(
    attentions: np.ndarray, grid_size: int, layer: int, patch: int, head: int | None = None
) -> np.ndarray:
    """Where one patch (row-major index on the grid) attends in one layer, `[g, g]`.

    `head=None` averages the heads. The class-token column is left out so the map shows patches.
    """
    per_head = attentions[layer, :, patch + 1, 1:]
    row = per_head.mean(axis=0) if head is None else per_head[head]
    return row.reshape(grid_size, grid_size)


def fuse_heads(attentions: np.ndarray, head_fusion: str = "mean") -> np.ndarray:
    """Combine the heads of each layer, `[L, H, N, N] -> [L, N, N]`."""
    if head_fusion == "mean":
        return attentions.mean(axis=1)
    if head_fusion == "max":
        return attentions.max(axis=1)
    if head_fusion == "min":
        return attentions.min(axis=1)
    raise StudioError(f"head fusion '{head_fusion}' is unknown; choose one of {HEAD_FUSIONS}")


def _discard_lowest(fused: np.ndarray, discard_ratio: float) -> np.ndarray:
    """Zero the lowest `discard_ratio` of each layer's entries, never the class token's own.

    Entry [0, 0] (class token attending to itself) is protected so the class-token row can never
    be emptied and the rollout stays anchored on the token that makes the prediction.
    """
    if not 0.0 <= discard_ratio < 1.0:
        raise StudioError(f"discard ratio {discard_ratio} must be in [0, 1)")
    layers, n, _ = fused.shape
    count = int(n * n * discard_ratio)
    if count == 0:
        return fused
    flat = fused.reshape(layers, n * n).copy()
    ranking = flat.copy()
    ranking[:, 0] = np.inf
    # A value threshold (partition) is several times faster than ranking indices (argpartition);
    # exact ties at the threshold are all discarded together.
    threshold = np.partition(ranking, count - 1, axis=1)[:, count - 1 : count]
    flat[ranking <= threshold] = 0.0
    return flat.reshape(layers, n, n)


def rollout_matrix(
    fused: np.ndarray, discard_ratio: float = 0.0, start_layer: int = 0
) -> np.ndarray:
    """Abnar & Zuidema (2020) rollout of per-layer token mixing matrices, `[L, N, N] -> [N, N]`.

    Each layer's matrix gets the identity added for the residual connection and its ROWS
    renormalised (row q says how query token q mixes the tokens below it); layers are then
    multiplied from `start_layer` upwards: R = A_L · … · A_start.
    """
    layers, n, _ = fused.shape
    if not 0 <= start_layer < layers:
        raise StudioError(f"start layer {start_layer} is out of range 0..{layers - 1}")
    # float32 keeps a ViT-B/16 recompute well under 20 ms; 24 products of stochastic matrices lose
    # nothing visible at that precision. float64 stays float64, for exact checks.
    dtype = np.float64 if fused.dtype == np.float64 else np.float32
    mixing = _discard_lowest(fused[start_layer:].astype(dtype), discard_ratio)
    mixing = mixing + np.eye(n, dtype=dtype)[None]
    mixing /= mixing.sum(axis=-1, keepdims=True)
    result = mixing[0]
    for layer_matrix in mixing[1:]:
        result = layer_matrix @ result
    return result


def cls_rollout_map(matrix: np.ndarray, grid_size: int) -> np.ndarray:
    """The class-token row of a rollout matrix on the patch grid, scaled to a maximum of 1."""
    row = matrix[0, 1:].reshape(grid_size, grid_size)
    peak = row.max()
    dtype = np.float64 if row.dtype == np.float64 else np.float32
    return (row / peak if peak > 0 else row).astype(dtype)


def attention_rollout(
    attentions: np.ndarray,
    grid_size: int,
    head_fusion: str = "mean",
    discard_ratio: float = 0.0,
    start_layer: int = 0,
) -> np.ndarray:
    """Attention rollout of the class token over the patch grid, `[g, g]`, max 1."""
    matrix = rollout_matrix(fuse_heads(attentions, head_fusion), discard_ratio, start_layer)
    return cls_rollout_map(matrix, grid_size)


def gradient_relevance(attentions: np.ndarray, gradients: np.ndarray) -> np.ndarray:
    """Chefer et al. (2021) head fusion: mean over heads of (attention ⊙ gradient)⁺, `[L, N, N]`.

    `gradients[l]` must be the gradient of the class score with respect to `attentions[l]` of
    the same layer; pairing them by position is what keeps layers aligned.
    """
    if attentions.shape != gradients.shape:
        raise ValueError(f"attention {attentions.shape} and gradient {gradients.shape} differ")
    return np.clip(attentions * gradients, 0.0, None).mean(axis=1)


def gradient_rollout(
    relevance: np.ndarray, grid_size: int, discard_ratio: float = 0.0, start_layer: int = 0
) -> np.ndarray:
    """Class-specific rollout: `gradient_relevance` layers rolled out like plain attention."""
    return cls_rollout_map(rollout_matrix(relevance, discard_ratio, start_layer), grid_size)


def patch_centre_distances(grid_size: int, patch_size: int) -> np.ndarray:
    """Pixel distance between the centres of every pair of patches, `[g*g, g*g]`."""
    rows, cols = np.divmod(np.arange(grid_size * grid_size), grid_size)
    centres = (np.stack([rows, cols], axis=1) + 0.5) * patch_size
    return np.linalg.norm(centres[:, None, :] - centres[None, :, :], axis=-1)


def mean_attention_distance(
    attentions: np.ndarray, grid_size: int, patch_size: int
) -> np.ndarray:
    """ViT paper, Figure 7: attention-weighted distance in pixels per layer and head, `[L, H]`.

    For every patch query, its attention to the patch keys (class token left out on both sides)
    is renormalised to sum to one and used to weight the distances to those keys; the result is
    averaged over queries.
    """
    patch_attention = attentions[:, :, 1:, 1:]
    distances = patch_centre_distances(grid_size, patch_size).astype(patch_attention.dtype)
    # Weight first, renormalise after: the same quotient without materialising a renormalised
    # copy of the whole attention tensor (50x faster for ViT-B/16).
    weighted = np.einsum("lhqk,qk->lhq", patch_attention, distances)
    totals = patch_attention.sum(axis=-1)
    per_query = weighted / np.maximum(totals, 1e-12)
    return per_query.mean(axis=-1).astype(np.float32)


def pos_embedding_similarity(pos_embedding: np.ndarray, grid_size: int) -> np.ndarray:
    """ViT paper, Figure 7: cosine similarity of each patch's position embedding to all others.

    `pos_embedding` is `[N, D]` or `[g*g, D]`; a class-token row is dropped. Returns
    `[g, g, g, g]` where `[i, j]` is the similarity map of the patch at row i, column j.
    """
    patches = pos_embedding[-grid_size * grid_size :].astype(np.float64)
    unit = patches / np.maximum(np.linalg.norm(patches, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit.T
    return similarity.reshape(grid_size, grid_size, grid_size, grid_size).astype(np.float32)
