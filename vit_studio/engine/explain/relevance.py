"""Maps built from attention and its gradient: raw attention, Grad-CAM, generic attention,
transformer attribution, random.

Shapes as in `attribution`: `[L, H, N, N]` attention with the class token at index 0, maps on
the `[g, g]` patch grid. Maps are scaled to a maximum of 1 (a constant map stays as it is);
only their ranking of patches matters to the faithfulness tests. They keep float64 when given
it (a model cast to float64, for exact checks) and are float32 otherwise.
"""

from __future__ import annotations

import numpy as np

from vit_studio.engine.errors import StudioError


def _scaled(row: np.ndarray, grid_size: int) -> np.ndarray:
    dtype = np.float64 if row.dtype == np.float64 else np.float32
    grid = row.reshape(grid_size, grid_size).astype(dtype)
    peak = grid.max()
    return grid / peak if peak > 0 else grid


def raw_attention(attentions: np.ndarray, grid_size: int) -> np.ndarray:
    """The last layer's class-token attention to the patches, mean of the heads, `[g, g]`."""
    return _scaled(attentions[-1, :, 0, 1:].mean(axis=0), grid_size)


def grad_cam(attentions: np.ndarray, gradients: np.ndarray, grid_size: int) -> np.ndarray:
    """Grad-CAM for a ViT as Chefer, Gur & Wolf (CVPR 2021) define their baseline
    (`generate_cam_attn`): the last layer's class-token attention to the patches, each head
    weighted by its gradient averaged over those patches, the mean of the heads, its positive
    part, `[g, g]`."""
    attention = attentions[-1, :, 0, 1:]
    weights = gradients[-1, :, 0, 1:].mean(axis=-1, keepdims=True)
    return _scaled(np.clip((attention * weights).mean(axis=0), 0.0, None), grid_size)


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
    return result.astype(per_layer.dtype)


def generic_attention(class_relevance: np.ndarray, grid_size: int) -> np.ndarray:
    """Chefer, Gur & Wolf (ICCV 2021), self-attention rule: the class-token row of
    `relevance_product` over Ā_l = mean_h (∇A ⊙ A)⁺, `[g, g]`.

    `class_relevance` is `attribution.gradient_relevance(attentions, gradients)`, the same
    per-layer matrices class-specific rollout (`attribution.gradient_rollout`) renormalises.
    """
    return _scaled(relevance_product(class_relevance)[0, 1:], grid_size)


def transformer_attribution(
    attention_relevance: np.ndarray, gradients: np.ndarray, grid_size: int, start_layer: int = 0
) -> np.ndarray:
    """Chefer, Gur & Wolf (CVPR 2021), eq. 13–14: `relevance_product` over
    Ā_l = mean_h (∇A_l ⊙ R_A_l)⁺ for the layers from `start_layer` up, where R_A_l is the LRP
    relevance of layer l's attention map (`lrp.propagate`); the class-token row, `[g, g]`.
    Their `generate_LRP` defaults to start_layer 0; their evaluation script passes 1.
    """
    if attention_relevance.shape != gradients.shape:
        raise ValueError(
            f"relevance {attention_relevance.shape} and gradient {gradients.shape} differ"
        )
    layers = attention_relevance.shape[0]
    if not 0 <= start_layer < layers:
        raise StudioError(f"start layer {start_layer} is out of range 0..{layers - 1}")
    fused = np.clip(attention_relevance * gradients, 0.0, None).mean(axis=1)
    return _scaled(relevance_product(fused[start_layer:])[0, 1:], grid_size)


def signed_patch_map(relevance: np.ndarray) -> np.ndarray:
    """A signed relevance map `[g, g]` scaled so that its largest magnitude is 1 (all-zero stays
    zero): the sign says for or against the class, as a diverging colour map shows it."""
    dtype = np.float64 if relevance.dtype == np.float64 else np.float32
    peak = np.abs(relevance).max()
    return (relevance / peak if peak > 0 else relevance).astype(dtype)
