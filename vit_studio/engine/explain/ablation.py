"""Head ablation: what the prediction becomes with some attention heads knocked out.

A head is knocked out by zeroing its output before the attention's output projection, i.e. the
columns of `out_proj.weight` that read its slice of the concatenated heads; the projection's
bias stays, as it belongs to no head. The weights are changed in place for one forward and put
back exactly, so the caller's model (owned by one thread) is unchanged afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import numpy as np
import torch

from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import StudioModel
from vit_studio.engine.vit import VisionTransformer


@contextlib.contextmanager
def heads_knocked_out(
    module: VisionTransformer, heads: Iterable[tuple[int, int]]
) -> Iterator[None]:
    """Within the block, every `(layer, head)` of `heads` contributes nothing."""
    layers = module.encoder.layers
    saved: list[tuple[torch.Tensor, slice, torch.Tensor]] = []
    try:
        with torch.no_grad():
            for layer, head in heads:
                if not 0 <= layer < len(layers):
                    raise StudioError(f"layer {layer} is out of range 0..{len(layers) - 1}")
                attention = layers[layer].self_attention
                if not 0 <= head < attention.num_heads:
                    raise StudioError(f"head {head} is out of range 0..{attention.num_heads - 1}")
                width = attention.head_dim
                columns = slice(head * width, (head + 1) * width)
                weight = attention.out_proj.weight
                saved.append((weight, columns, weight[:, columns].clone()))
                weight[:, columns] = 0.0
        yield
    finally:
        with torch.no_grad():
            for weight, columns, original in reversed(saved):
                weight[:, columns] = original


def ablated_probs(
    model: StudioModel, tensor: torch.Tensor, heads: Iterable[tuple[int, int]]
) -> np.ndarray:
    """Class probabilities `[C]` of one normalised image `[3, H, W]` with `heads` knocked out."""
    model.require_classifier("to show what knocking out a head changes in")
    module = model.module.eval()
    with heads_knocked_out(module, heads), torch.inference_mode():
        logits = module(tensor.unsqueeze(0).to(model.device))[0]
    return torch.softmax(logits.float(), dim=-1).cpu().numpy()
