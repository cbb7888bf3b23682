"""Maps built from attention and its gradient: raw attention, generic attention, random.

Shapes as in `attribution`: `[L, H, N, N]` attention with the class token at index 0, maps on
the `[g, g]` patch grid. Maps are scaled to a maximum of 1 (a constant map stays as it is);
only their ranking of patches matters to the faithfulness tests.
"""

from __future__ import annotations

import numpy as np


def _scaled(row: np.ndarray, grid_size: int) -> np.ndarray:
    grid = row.reshape(grid_size, grid_size).astype(np.float32)
    peak = grid.max()
    return grid / peak if peak > 0 else grid


def raw_attention(attentions: np.ndarray, grid_size: int) -> np.ndarray:
    """The last layer's class-token attention to the patches, mean of the heads, `[g, g]`."""
    return _scaled(attentions[-1, :, 0, 1:].mean(axis=0), grid_size)


def random_map(grid_size: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform noise on the patch grid: the baseline any real method must beat."""
    return rng.random((grid_size, grid_size)).astype(np.float32)


def relevance_product(per_layer: np.ndarray) -> np.ndarray:
    """R = I, then R += M_l · R for each layer l upwards, `[L, N, N] -> [N, N]`.

    Equal to (I + M_L) · … · (I + M_1). Unlike Abnar's rollout no row is renormalised, so a layer
    whose relevance is zero passes the identity through and a relevant layer adds to it.
    """
    n = per_layer.shape[-1]
    result = np.eye(n, dtype=np.float64)
    for layer_matrix in per_layer.astype(np.float64):
        result = result + layer_matrix @ result
    return result


def generic_attention(class_relevance: np.ndarray, grid_size: int) -> np.ndarray:
    """Chefer, Gur & Wolf (ICCV 2021), self-attention rule: the class-token row of
    `relevance_product` over Ā_l = mean_h (∇A ⊙ A)⁺, `[g, g]`.

    `class_relevance` is `attribution.gradient_relevance(attentions, gradients)`, the same
    per-layer matrices class-specific rollout (`attribution.gradient_rollout`) renormalises.
    """
    return _scaled(relevance_product(class_relevance)[0, 1:], grid_size)


def transformer_attribution(
    attention_relevance: np.ndarray, gradients: np.ndarray, grid_size: int
) -> np.ndarray:
    """Chefer, Gur & Wolf (CVPR 2021), eq. 13–14: `relevance_product` over
    Ā_l = mean_h (∇A_l ⊙ R_A_l)⁺, where R_A_l is the LRP relevance of layer l's attention map
    (`lrp.attention_relevance`); the class-token row, `[g, g]` (their start_layer 0).
    """
    if attention_relevance.shape != gradients.shape:
        raise ValueError(
            f"relevance {attention_relevance.shape} and gradient {gradients.shape} differ"
        )
    fused = np.clip(attention_relevance * gradients, 0.0, None).mean(axis=1)
    return _scaled(relevance_product(fused)[0, 1:], grid_size)
