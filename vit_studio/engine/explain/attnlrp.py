"""AttnLRP (Achtibat et al., ICML 2024): relevance of every input value for one class's logit,
propagated through every operation of the ViT, attention included, in one forward and one
backward pass.

The pass is gradient × input with some backward functions changed: the relevance of a tensor a
is R(a) = a ⊙ g(a), where g is the changed gradient. With that convention each of the paper's
rules is a small change to autograd:

- Linear layers, the patch embedding, residual additions, the mean subtraction of LayerNorm:
  the ε-rule (eq. 8) in its ε → 0 limit, which is plain gradient × input. Biases, the class
  token and the position embedding keep the relevance that reaches them.
- Softmax (Proposition 3.1, Taylor decomposition at the input, bias term dropped):
  R(x)ᵢ = xᵢ (R(s)ᵢ − sᵢ Σⱼ R(s)ⱼ), which is exactly the softmax's own gradient × input.
- The matrix products QKᵀ and A·V (Proposition 3.3, the uniform rule): each factor gets half of
  the product's relevance, i.e. the gradient reaching each factor is halved.
- LayerNorm (Proposition 3.4): the identity rule on the division by the standard deviation,
  which is held constant (detached); the affine part is linear.
- GELU, and the tanh of a pre-logits head: the identity rule (eq. 9): the relevance of the
  output passes to the input unchanged.

This is what the authors' `lxt` package computes in its "efficient" mode (not its default patch
for torchvision's ViT, which treats attention as constant: CP-LRP). Relevance is signed: a
negative value speaks against the class. The patch map sums the relevance of every input value
in a patch.

The rules see the model only through `ViTParts`; `torchvision_parts` is the one function that
knows torchvision's `VisionTransformer` layout, so another family needs only its own adapter.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from vit_studio.engine.vit import VisionTransformer


@dataclass(frozen=True)
class BlockParts:
    """One pre-norm encoder block: x + attention(norm_1(x)), then + fc2(act(fc1(norm_2(x))))."""

    norm_1: nn.LayerNorm
    qkv: Callable[[torch.Tensor], torch.Tensor]  # [B, N, D] -> [B, N, 3D]: q, k, v, head-major
    num_heads: int
    proj: Callable[[torch.Tensor], torch.Tensor]  # the attention's output projection
    norm_2: nn.LayerNorm
    fc1: Callable[[torch.Tensor], torch.Tensor]
    activation: Callable[[torch.Tensor], torch.Tensor]  # element-wise (GELU)
    fc2: Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ViTParts:
    """What AttnLRP needs of a class-token ViT.

    `embed` maps images `[B, 3, H, W]` to the tokens entering the first block, class token first,
    with linear operations only (patch projection, concatenation, position embedding), so that
    plain gradient × input is the ε-rule through it. `head` reads the class token after
    `final_norm`: linear layers and element-wise activations, in order.
    """

    embed: Callable[[torch.Tensor], torch.Tensor]
    blocks: Sequence[BlockParts]
    final_norm: nn.LayerNorm
    head: Sequence[nn.Module]


def _mlp_parts(mlp: nn.Module) -> tuple[nn.Linear, nn.Module, nn.Linear]:
    layers = [m for m in mlp.children() if not isinstance(m, nn.Dropout)]
    if len(layers) != 3 or not isinstance(layers[0], nn.Linear) or not isinstance(
        layers[2], nn.Linear
    ):
        raise ValueError("AttnLRP expects the encoder MLP to be Linear, activation, Linear")
    return layers[0], layers[1], layers[2]


def torchvision_parts(module: VisionTransformer) -> ViTParts:
    """The adapter for torchvision's `VisionTransformer` (eval mode: dropout is the identity)."""

    def embed(images: torch.Tensor) -> torch.Tensor:
        patches = module._process_input(images)
        class_token = module.class_token.expand(images.shape[0], -1, -1)
        return torch.cat([class_token, patches], dim=1) + module.encoder.pos_embedding

    blocks = []
    for block in module.encoder.layers:
        mha = block.self_attention
        if not (mha.batch_first and mha._qkv_same_embed_dim and mha.in_proj_weight is not None):
            raise ValueError("AttnLRP needs batch-first packed-QKV self-attention")
        fc1, activation, fc2 = _mlp_parts(block.mlp)
        blocks.append(
            BlockParts(
                norm_1=block.ln_1,
                qkv=lambda x, m=mha: nn.functional.linear(x, m.in_proj_weight, m.in_proj_bias),
                num_heads=mha.num_heads,
                proj=mha.out_proj,
                norm_2=block.ln_2,
                fc1=fc1,
                activation=activation,
                fc2=fc2,
            )
        )
    return ViTParts(embed, blocks, module.encoder.ln, list(module.heads.children()))


class _HalvedGradient(torch.autograd.Function):
    """The identity forward; half the gradient backward (one factor's share, uniform rule)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, gradient: torch.Tensor) -> torch.Tensor:
        return gradient / 2


class _IdentityRule(torch.autograd.Function):
    """fn(x) forward; backward, the gradient times fn(x) / x, so that x ⊙ g(x) = fn(x) ⊙ g(fn(x)):
    the output's relevance reaches the input unchanged (where x = 0, fn(x) = 0 for GELU and tanh
    and both relevances are 0)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        out = fn(x)
        ctx.save_for_backward(torch.where(x == 0, torch.zeros_like(x), out / x))
        return out

    @staticmethod
    def backward(ctx, gradient: torch.Tensor):
        (ratio,) = ctx.saved_tensors
        return gradient * ratio, None


def _halved(x: torch.Tensor) -> torch.Tensor:
    return _HalvedGradient.apply(x)


def _identity_rule(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return _IdentityRule.apply(x, fn)


def _layer_norm(norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    centred = x - x.mean(dim=-1, keepdim=True)
    std = torch.sqrt(centred.pow(2).mean(dim=-1, keepdim=True) + norm.eps).detach()
    y = centred / std
    if norm.weight is not None:
        y = y * norm.weight
    if norm.bias is not None:
        y = y + norm.bias
    return y


def _attention(block: BlockParts, x: torch.Tensor) -> torch.Tensor:
    batch, tokens, dim = x.shape
    heads = block.num_heads
    q, k, v = block.qkv(x).view(batch, tokens, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
    scale = 1.0 / math.sqrt(dim // heads)
    scores = (_halved(q) * scale) @ _halved(k).transpose(-2, -1)
    attention = torch.softmax(scores, dim=-1)
    mixed = _halved(attention) @ _halved(v)
    return block.proj(mixed.transpose(1, 2).reshape(batch, tokens, dim))


def relevance_forward(parts: ViTParts, images: torch.Tensor) -> torch.Tensor:
    """The model's logits, computed so that backward gives AttnLRP's changed gradients."""
    x = parts.embed(images)
    for block in parts.blocks:
        x = x + _attention(block, _layer_norm(block.norm_1, x))
        hidden = _identity_rule(block.activation, block.fc1(_layer_norm(block.norm_2, x)))
        x = x + block.fc2(hidden)
    out = _layer_norm(parts.final_norm, x)[:, 0]
    for layer in parts.head:
        out = layer(out) if isinstance(layer, nn.Linear) else _identity_rule(layer, out)
    return out


@dataclass(frozen=True)
class AttnLRPResult:
    """`logits [B, C]` (the model's, in its dtype), the explained `class_indices [B]` and the
    signed relevance of every value of the input images, `input_relevance [B, 3, H, W]`."""

    logits: torch.Tensor
    class_indices: torch.Tensor
    input_relevance: torch.Tensor

    def patch_relevance(self, patch_size: int) -> torch.Tensor:
        """The relevance of each patch (the sum over its values), `[B, g, g]`."""
        summed = self.input_relevance.sum(dim=1)
        batch, height, width = summed.shape
        grid = summed.view(batch, height // patch_size, patch_size, width // patch_size, patch_size)
        return grid.sum(dim=(2, 4))


def attnlrp(
    module: VisionTransformer,
    images: torch.Tensor,
    class_indices: torch.Tensor | None = None,
) -> AttnLRPResult:
    """AttnLRP of `images` `[B, 3, H, W]` for the logit of `class_indices[b]` of each image
    (default: its predicted class). The relevance at the output is the logit itself; images of a
    batch are independent. One forward and one backward pass, in the model's dtype."""
    module.eval()
    inputs = images.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = relevance_forward(torchvision_parts(module), inputs)
        if class_indices is None:
            class_indices = logits.detach().argmax(dim=-1)
        chosen = logits.gather(1, class_indices.view(-1, 1).to(logits.device))
        (gradient,) = torch.autograd.grad(chosen.sum(), inputs)
    return AttnLRPResult(logits.detach(), class_indices, (inputs * gradient).detach())
