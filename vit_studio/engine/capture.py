"""One forward pass of a torchvision ViT that also records what the model computed inside.

torchvision's `EncoderBlock` calls its attention with `need_weights=False`, so the probabilities
never leave PyTorch's fused kernel. For the duration of a capture, each block's
`nn.MultiheadAttention.forward` is replaced (on that instance only) by an explicit
softmax(QKᵀ/√d)·V computed with the module's own projection weights. The recorded probabilities
are therefore the very tensors the output was computed from — the logits match an uncaptured
forward, and gradients of a class score reach them directly.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vit_studio.engine.vit import VisionTransformer


@dataclass
class Capture:
    """Tensors recorded during one forward pass (batch dimension kept)."""

    logits: torch.Tensor
    attentions: list[torch.Tensor]  # per layer, [B, H, N, N]
    block_outputs: list[torch.Tensor]  # per layer, [B, N, D], the residual stream after the block


def _explicit_attention(mha: nn.MultiheadAttention, record: list[torch.Tensor]):
    head_dim = mha.embed_dim // mha.num_heads
    scale = 1.0 / math.sqrt(head_dim)

    def forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        if key_padding_mask is not None or attn_mask is not None or is_causal:
            raise ValueError("attention capture supports unmasked self-attention only")
        batch, tokens, dim = query.shape
        qkv = F.linear(query, mha.in_proj_weight, mha.in_proj_bias)
        q, k, v = qkv.view(batch, tokens, 3, mha.num_heads, head_dim).permute(2, 0, 3, 1, 4)
        probabilities = torch.softmax((q * scale) @ k.transpose(-2, -1), dim=-1)
        record.append(probabilities)
        if mha.training and mha.dropout > 0:
            probabilities = F.dropout(probabilities, p=mha.dropout)
        mixed = (probabilities @ v).transpose(1, 2).reshape(batch, tokens, dim)
        return mha.out_proj(mixed), None

    return forward


def _check_capturable(module: VisionTransformer) -> None:
    for block in module.encoder.layers:
        mha = block.self_attention
        if not (mha.batch_first and mha._qkv_same_embed_dim and mha.in_proj_weight is not None):
            raise ValueError("attention capture needs batch-first packed-QKV self-attention")


@contextlib.contextmanager
def capturing(module: VisionTransformer) -> Iterator[Capture]:
    """Within the block, forward passes of `module` record attentions and block outputs."""
    _check_capturable(module)
    capture = Capture(logits=torch.empty(0), attentions=[], block_outputs=[])
    hooks = []
    blocks = list(module.encoder.layers)
    for block in blocks:
        block.self_attention.forward = _explicit_attention(block.self_attention, capture.attentions)
        hooks.append(
            block.register_forward_hook(lambda _m, _i, out: capture.block_outputs.append(out))
        )
    try:
        yield capture
    finally:
        for block in blocks:
            # Removing the instance attribute restores the class's own forward.
            del block.self_attention.forward
        for hook in hooks:
            hook.remove()


def captured_forward(module: VisionTransformer, batch: torch.Tensor) -> Capture:
    """Run `module` on `batch` once and return logits with everything recorded on the way."""
    with capturing(module) as capture:
        capture.logits = module(batch)
    return capture
