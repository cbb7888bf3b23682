"""Layer-wise relevance propagation through a stock torchvision ViT (Chefer et al., CVPR 2021).

The rules are those of hila-chefer/Transformer-Explainability (`baselines/ViT/layers_ours.py`,
`ViT_LRP.py`), written as functions over activations recomputed from each encoder block's
captured input with the block's own weights:

- Linear: LRP-αβ with α=1, β=0 (positive contributions only, bias ignored).
- GELU, LayerNorm, softmax, dropout, tanh: relevance passes through unchanged.
- Residual add `a + b`: the z-rule, then each branch rescaled so that its share of the total is
  |Σa-part| / (|Σa-part| + |Σb-part|) and the sum is conserved exactly.
- The two matmuls of attention (QKᵀ and A·V): the z-rule on both factors, each half kept.
- A branch used twice (the residual stream): relevances add.
- The head reads the class token after the final LayerNorm; relevance starts as a one-hot
  vector of the explained class, as their `generate_LRP` does.

One deliberate difference: their add rule sums over the whole batch; here the sums are per
image, which is the same for one image and keeps images of a batch independent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vit_studio.engine.vit import VisionTransformer


@dataclass
class Relevance:
    """What LRP found, per layer from the first: `attention[l]` is `[B, H, N, N]` (the relevance
    of layer l's attention probabilities), `tokens[l]` is `[B, N, D]` (of layer l's input)."""

    attention: list[torch.Tensor]
    tokens: list[torch.Tensor]


def safe_divide(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    """numerator / denominator, 0 where the denominator is 0 (their `safe_divide`: one within
    1e-9 of 0 is moved to about 1e-9, so no quotient is infinite)."""
    den = denominator.clamp(min=1e-9) + denominator.clamp(max=1e-9)
    den = den + den.eq(0).to(den.dtype) * 1e-9
    return numerator / den * denominator.ne(0).to(denominator.dtype)


def linear_relevance(x: torch.Tensor, weight: torch.Tensor, relevance: torch.Tensor):
    """LRP-α1β0 through `x @ weightᵀ`: output relevance shared by positive contributions."""
    pw, nw = weight.clamp(min=0), weight.clamp(max=0)
    px, nx = x.clamp(min=0), x.clamp(max=0)
    scaled = safe_divide(relevance, F.linear(px, pw) + F.linear(nx, nw))
    return px * (scaled @ pw) + nx * (scaled @ nw)


def add_relevance(a: torch.Tensor, b: torch.Tensor, relevance: torch.Tensor):
    """Relevance of the two summands of `a + b`, their totals conserving the output's per image."""
    scaled = safe_divide(relevance, a + b)
    parts = [a * scaled, b * scaled]
    dims = tuple(range(1, relevance.dim()))
    sums = [part.sum(dim=dims, keepdim=True) for part in parts]
    total = relevance.sum(dim=dims, keepdim=True)
    magnitude = sums[0].abs() + sums[1].abs()
    return [
        part * safe_divide(safe_divide(part_sum.abs(), magnitude) * total, part_sum)
        for part, part_sum in zip(parts, sums, strict=True)
    ]


def matmul_relevance(left: torch.Tensor, right: torch.Tensor, relevance: torch.Tensor):
    """The z-rule on both factors of `left @ right`, each given half (their `/= 2`)."""
    scaled = safe_divide(relevance, left @ right)
    return [
        left * (scaled @ right.transpose(-2, -1)) / 2,
        right * (left.transpose(-2, -1) @ scaled) / 2,
    ]


@dataclass
class _BlockActivations:
    x: torch.Tensor
    normed_1: torch.Tensor
    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    attention: torch.Tensor
    mixed: torch.Tensor
    attention_out: torch.Tensor
    middle: torch.Tensor
    normed_2: torch.Tensor
    hidden: torch.Tensor
    activated: torch.Tensor
    mlp_out: torch.Tensor


def _linears(mlp: nn.Module) -> tuple[nn.Linear, nn.Module, nn.Linear]:
    linears = [m for m in mlp.children() if isinstance(m, nn.Linear)]
    others = [m for m in mlp.children() if not isinstance(m, (nn.Linear, nn.Dropout))]
    if len(linears) != 2 or len(others) != 1:
        raise ValueError("LRP expects the encoder MLP to be Linear, activation, Linear")
    return linears[0], others[0], linears[1]


def block_activations(block: nn.Module, x: torch.Tensor) -> _BlockActivations:
    """One torchvision `EncoderBlock` recomputed op by op from its input (eval mode)."""
    mha = block.self_attention
    batch, tokens, dim = x.shape
    heads = mha.num_heads
    head_dim = dim // heads
    normed_1 = block.ln_1(x)
    qkv = F.linear(normed_1, mha.in_proj_weight, mha.in_proj_bias)
    q, k, v = qkv.view(batch, tokens, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
    attention = torch.softmax((q / math.sqrt(head_dim)) @ k.transpose(-2, -1), dim=-1)
    mixed = (attention @ v).transpose(1, 2).reshape(batch, tokens, dim)
    attention_out = mha.out_proj(mixed)
    middle = attention_out + x
    normed_2 = block.ln_2(middle)
    fc1, activation, fc2 = _linears(block.mlp)
    hidden = fc1(normed_2)
    activated = activation(hidden)
    mlp_out = fc2(activated)
    return _BlockActivations(
        x, normed_1, q, k, v, attention, mixed, attention_out, middle, normed_2, hidden,
        activated, mlp_out,
    )  # fmt: skip


def _block_relevance(block: nn.Module, act: _BlockActivations, relevance: torch.Tensor):
    """Relevance of the block's input and of its attention map, from that of its output."""
    fc1, _, fc2 = _linears(block.mlp)
    through_middle, through_mlp = add_relevance(act.middle, act.mlp_out, relevance)
    through_mlp = linear_relevance(act.activated, fc2.weight, through_mlp)
    through_mlp = linear_relevance(act.normed_2, fc1.weight, through_mlp)
    middle = through_middle + through_mlp

    residual, through_attention = add_relevance(act.x, act.attention_out, middle)
    mha = block.self_attention
    mixed = linear_relevance(act.mixed, mha.out_proj.weight, through_attention)
    batch, tokens, dim = mixed.shape
    mixed = mixed.view(batch, tokens, mha.num_heads, -1).transpose(1, 2)
    attention, value = matmul_relevance(act.attention, act.v, mixed)
    query, key_t = matmul_relevance(act.q, act.k.transpose(-2, -1), attention)
    qkv = torch.stack([query, key_t.transpose(-2, -1), value])  # [3, B, H, N, d]
    qkv = qkv.permute(1, 3, 0, 2, 4).reshape(batch, tokens, 3 * dim)
    through_qkv = linear_relevance(act.normed_1, mha.in_proj_weight, qkv)
    return residual + through_qkv, attention


def _head_relevance(module: VisionTransformer, encoded: torch.Tensor, one_hot: torch.Tensor):
    """Relevance of the class token after the encoder's final LayerNorm."""
    inputs = []
    value = module.encoder.ln(encoded)[:, 0]
    layers = list(module.heads.children())
    for layer in layers:
        inputs.append(value)
        value = layer(value)
    relevance = one_hot
    for layer, layer_input in zip(reversed(layers), reversed(inputs), strict=True):
        if isinstance(layer, nn.Linear):
            relevance = linear_relevance(layer_input, layer.weight, relevance)
    return relevance


@torch.no_grad()
def propagate(
    module: VisionTransformer, block_inputs: list[torch.Tensor], class_indices: torch.Tensor
) -> Relevance:
    """LRP from the logit of `class_indices[b]` of each image down to the first block's input.

    `block_inputs[l]` is the residual stream entering layer l (`[B, N, D]`), as recorded during
    the forward pass whose prediction is explained; the last block's output is recomputed.
    """
    blocks = list(module.encoder.layers)
    activations = [block_activations(b, x) for b, x in zip(blocks, block_inputs, strict=True)]
    last = activations[-1]
    encoded = last.middle + last.mlp_out
    one_hot = F.one_hot(class_indices, module.heads[-1].out_features).to(encoded.dtype)
    relevance = torch.zeros_like(encoded)
    relevance[:, 0] = _head_relevance(module, encoded, one_hot)
    attention: list[torch.Tensor] = []
    tokens: list[torch.Tensor] = []
    for block, act in zip(reversed(blocks), reversed(activations), strict=True):
        relevance, attention_relevance = _block_relevance(block, act, relevance)
        attention.append(attention_relevance)
        tokens.append(relevance)
    return Relevance(attention=attention[::-1], tokens=tokens[::-1])
