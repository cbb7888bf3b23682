"""Analyses for widget tests: a real one from a tiny random ViT, and full-size fakes for timing."""

from __future__ import annotations

import numpy as np
import torch

from tests.conftest import TINY_ARCH, random_model
from vit_studio.engine import attribution
from vit_studio.engine.analysis import Analysis, analyze
from vit_studio.engine.images import PreparedImage


def tiny_analysis(
    gradient_classes: int | None = 2, seed: int = 0, attnlrp_classes=None
) -> Analysis:
    """A real analysis of a random image by the 3-layer, 4-head, 4 × 4-patch test model."""
    size = TINY_ARCH.image_size
    tensor = torch.randn(3, size, size, generator=torch.Generator().manual_seed(seed))
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    image = PreparedImage(pixels=pixels, tensor=tensor)
    return analyze(
        random_model(), image, gradient_classes=gradient_classes, attnlrp_classes=attnlrp_classes
    )


def _local_attention(rng: np.random.Generator, layers: int, heads: int, g: int) -> np.ndarray:
    """Softmax attention `[L, H, N, N]` whose reach varies by head and grows with depth, the
    pattern real ViTs show (ViT paper, Figure 7), so charts of fakes look like charts of models."""
    tokens = g * g + 1
    distance = attribution.patch_centre_distances(g, 1)
    depth = (np.arange(layers)[:, None] + 1) / layers
    reach = 0.5 + g * rng.uniform(0.0, 1.0, size=(layers, heads)) ** (2.0 / depth)
    logits = rng.normal(scale=0.5, size=(layers, heads, tokens, tokens)).astype(np.float32)
    logits[:, :, 1:, 1:] -= (distance**2 / (2.0 * reach[..., None, None] ** 2)).astype(np.float32)
    attentions = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return attentions / attentions.sum(axis=-1, keepdims=True)


def _sincos_position_embedding(g: int, dim: int = 32) -> np.ndarray:
    """2-D sine-cosine position embeddings `[1 + g*g, dim]` (class token first), smooth enough
    to give the similarity mosaic its characteristic blobs."""
    rows, cols = np.divmod(np.arange(g * g), g)
    frequencies = np.linspace(0.05, 0.4, dim // 4)
    parts = [f(axis[:, None] * frequencies) for axis in (rows, cols) for f in (np.sin, np.cos)]
    return np.concatenate([np.zeros((1, dim)), np.concatenate(parts, axis=1)]).astype(np.float32)


def fake_analysis(
    layers: int = 12, heads: int = 12, image_size: int = 224, patch_size: int = 16, seed: int = 0
) -> Analysis:
    """An `Analysis` with the shapes of a real model (ViT-B/16 by default) and made-up contents."""
    rng = np.random.default_rng(seed)
    g = image_size // patch_size
    tokens = g * g + 1
    attentions = _local_attention(rng, layers, heads, g)
    token_norms = rng.gamma(4.0, 10.0, size=(layers, tokens)).astype(np.float32)
    # A few high-norm outlier tokens in the later layers, as Darcet et al. (2023) describe.
    token_norms[layers // 2 :, rng.choice(np.arange(1, tokens), 3, replace=False)] *= 8.0
    class_logits = rng.normal(size=10).astype(np.float32)
    probs = np.exp(class_logits) / np.exp(class_logits).sum()
    return Analysis(
        model_name=f"fake-{layers}x{heads}",
        class_names=tuple(f"class {i}" for i in range(10)),
        image_size=image_size,
        patch_size=patch_size,
        pixels=rng.integers(0, 256, (image_size, image_size, 3), dtype=np.uint8),
        input=np.zeros((3, image_size, image_size), dtype=np.float32),
        logits=class_logits,
        probs=probs.astype(np.float32),
        attentions=attentions,
        token_norms=token_norms,
        # Confidence grows with depth towards the final probabilities.
        logit_lens=np.stack([
            np.exp(class_logits * d) / np.exp(class_logits * d).sum()
            for d in np.linspace(0.1, 1.0, layers)
        ]).astype(np.float32),
        pos_similarity=attribution.pos_embedding_similarity(_sincos_position_embedding(g), g),
        mean_attention_distance=attribution.mean_attention_distance(attentions, g, patch_size),
    )
