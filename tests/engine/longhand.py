"""Every attribution map written out longhand, independently of `vit_studio.engine`: the
torchvision ViT forward op by op with autograd for the attention gradients, Chefer et al.'s LRP
rule by rule over explicit per-input contributions, and AttnLRP with the authors' own `lxt`
relevance functions. Tests compare the engine's maps with these.

Each function takes a torchvision `VisionTransformer` whose head is one linear layer, one image
`[3, H, W]` and the class to explain; maps are `[g, g]`, peak (or largest magnitude) 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class Block:
    """One encoder block's activations, for one image (batch dimension dropped)."""

    x: torch.Tensor  # [N, D] input
    normed_1: torch.Tensor
    q: torch.Tensor  # [H, N, d]
    k: torch.Tensor
    v: torch.Tensor
    attention: torch.Tensor  # [H, N, N]
    mixed: torch.Tensor  # [N, D], heads concatenated
    attention_out: torch.Tensor
    middle: torch.Tensor  # x + attention_out
    normed_2: torch.Tensor
    hidden: torch.Tensor  # fc1 output
    activated: torch.Tensor
    mlp_out: torch.Tensor


@dataclass
class Forward:
    blocks: list[Block]
    encoded: torch.Tensor  # [N, D], the last block's output
    attentions: np.ndarray  # [L, H, N, N]
    gradients: np.ndarray  # [L, H, N, N], of the explained logit
    logits: torch.Tensor


def forward(module, image: torch.Tensor, class_index: int | None) -> Forward:
    """The forward pass op by op, every attention kept with its gradient with respect to the
    logit of `class_index` (None: the predicted class)."""
    module = module.eval()
    dtype = module.class_token.dtype
    x = module._process_input(image[None].to(dtype))
    x = torch.cat([module.class_token, x], dim=1) + module.encoder.pos_embedding
    blocks = []
    for block in module.encoder.layers:
        mha = block.self_attention
        heads, dim = mha.num_heads, x.shape[-1]
        normed_1 = block.ln_1(x)
        q, k, v = F.linear(normed_1, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (t.view(-1, heads, dim // heads).transpose(0, 1) for t in (q[0], k[0], v[0]))
        attention = (q @ k.transpose(-2, -1) / math.sqrt(dim // heads)).softmax(dim=-1)
        attention.retain_grad()
        mixed = (attention @ v).transpose(0, 1).reshape(-1, dim)
        attention_out = mha.out_proj(mixed)
        middle = x[0] + attention_out
        normed_2 = block.ln_2(middle)
        hidden = block.mlp[0](normed_2)
        activated = block.mlp[1](hidden)
        mlp_out = block.mlp[3](activated)
        blocks.append(Block(x[0], normed_1[0], q, k, v, attention, mixed, attention_out, middle,
                            normed_2, hidden, activated, mlp_out))  # fmt: skip
        x = (middle + mlp_out)[None]
    logits = module.heads(module.encoder.ln(x)[:, 0])[0]
    target = int(logits.argmax()) if class_index is None else class_index
    logits[target].backward()
    return Forward(
        blocks=[_detached(b) for b in blocks],
        encoded=x[0].detach(),
        attentions=np.stack([b.attention.detach().numpy() for b in blocks]),
        gradients=np.stack([b.attention.grad.numpy() for b in blocks]),
        logits=logits.detach(),
    )


def _detached(block: Block) -> Block:
    return Block(**{name: value.detach() for name, value in vars(block).items()})


def peak_one(row: np.ndarray, grid: int) -> np.ndarray:
    return (row / row.max()).reshape(grid, grid)


def grid_of(forward: Forward) -> int:
    return int(round(math.sqrt(forward.attentions.shape[-1] - 1)))


# --- maps from attention and its gradient ----------------------------------------------------


def raw_attention(f: Forward) -> np.ndarray:
    return peak_one(f.attentions[-1, :, 0, 1:].mean(axis=0), grid_of(f))


def rollout(f: Forward) -> np.ndarray:
    """Abnar & Zuidema: mean of heads, identity added, rows renormalised, layers multiplied."""
    n = f.attentions.shape[-1]
    result = np.eye(n)
    for layer in f.attentions:
        mixing = layer.mean(axis=0) + np.eye(n)
        result = (mixing / mixing.sum(axis=1, keepdims=True)) @ result
    return peak_one(result[0, 1:], grid_of(f))


def gradcam(f: Forward) -> np.ndarray:
    """Chefer et al.'s `generate_cam_attn`: per head, the last layer's class-token attention to
    the patches times the mean of its gradient over those patches; mean of heads, clamped."""
    cam = np.zeros(f.attentions.shape[-1] - 1)
    heads = f.attentions.shape[1]
    for h in range(heads):
        weight = f.gradients[-1, h, 0, 1:].mean()
        cam += f.attentions[-1, h, 0, 1:] * weight / heads
    return peak_one(np.maximum(cam, 0.0), grid_of(f))


def _positive_grad_times(f: Forward, per_layer: np.ndarray) -> np.ndarray:
    return np.clip(f.gradients * per_layer, 0, None).mean(axis=1)


def gradient_rollout(f: Forward) -> np.ndarray:
    n = f.attentions.shape[-1]
    result = np.eye(n)
    for fused in _positive_grad_times(f, f.attentions):
        mixing = fused + np.eye(n)
        result = (mixing / mixing.sum(axis=1, keepdims=True)) @ result
    return peak_one(result[0, 1:], grid_of(f))


def _sum_rule(per_layer: np.ndarray) -> np.ndarray:
    result = np.eye(per_layer.shape[-1])
    for layer in per_layer:
        result = result + layer @ result
    return result


def generic_attention(f: Forward) -> np.ndarray:
    return peak_one(_sum_rule(_positive_grad_times(f, f.attentions))[0, 1:], grid_of(f))


# --- Chefer et al. (CVPR 2021) LRP, rule by rule ---------------------------------------------


# Their `safe_divide` adds 1e-9 to every denominator (of either sign): part of their rules.
STABILISER = 1e-9


def _over(numerator: torch.Tensor, denominator: torch.Tensor) -> torch.Tensor:
    return torch.where(
        denominator == 0, torch.zeros_like(numerator), numerator / (denominator + STABILISER)
    )


def _alpha1_beta0(x: torch.Tensor, weight: torch.Tensor, relevance: torch.Tensor):
    """Each output's relevance shared by its positive contributions x_j · w_ij, bias left out."""
    contributions = (x[..., None, :] * weight).clamp(min=0)  # [..., out, in]
    shares = _over(contributions, contributions.sum(dim=-1, keepdim=True))
    return (shares * relevance[..., None]).sum(dim=-2)


def _chefer_add(a: torch.Tensor, b: torch.Tensor, relevance: torch.Tensor):
    """The z-rule, then each branch rescaled to |its sum| / (|a's| + |b's|) of the total."""
    part_a, part_b = a * _over(relevance, a + b), b * _over(relevance, a + b)
    sum_a, sum_b, total = part_a.sum(), part_b.sum(), relevance.sum()
    magnitude = sum_a.abs() + sum_b.abs()
    return (part_a * _over(_over(sum_a.abs(), magnitude) * total, sum_a),
            part_b * _over(_over(sum_b.abs(), magnitude) * total, sum_b))  # fmt: skip


def _chefer_matmul(left: torch.Tensor, right: torch.Tensor, relevance: torch.Tensor):
    """z-rule on both factors of left @ right (per head), each given half."""
    contributions = left[..., :, :, None] * right[..., None, :, :]  # [h, i, k, j]
    totals = contributions.sum(dim=-2, keepdim=True)
    shares = contributions * _over(relevance[..., :, None, :], totals)
    return shares.sum(dim=-1) / 2, shares.sum(dim=-3) / 2


@torch.no_grad()
def chefer_attention_relevance(module, f: Forward, class_index: int) -> list[torch.Tensor]:
    """The LRP relevance of every layer's attention map, `[H, N, N]` each, first layer first."""
    head = module.heads.head
    one_hot = F.one_hot(torch.tensor(class_index), head.out_features).to(f.encoded.dtype)
    relevance = torch.zeros_like(f.encoded)
    relevance[0] = _alpha1_beta0(module.encoder.ln(f.encoded)[0], head.weight, one_hot)
    found = []
    for block, act in zip(reversed(module.encoder.layers), reversed(f.blocks), strict=True):
        mha = block.self_attention
        heads, tokens, dim = act.q.shape[0], act.x.shape[0], act.x.shape[1]
        through_middle, through_mlp = _chefer_add(act.middle, act.mlp_out, relevance)
        through_mlp = _alpha1_beta0(act.activated, block.mlp[3].weight, through_mlp)
        through_mlp = _alpha1_beta0(act.normed_2, block.mlp[0].weight, through_mlp)
        residual, through_attention = _chefer_add(act.x, act.attention_out,
                                                  through_middle + through_mlp)  # fmt: skip
        mixed = _alpha1_beta0(act.mixed, mha.out_proj.weight, through_attention)
        mixed = mixed.view(tokens, heads, -1).transpose(0, 1)
        attention, value = _chefer_matmul(act.attention, act.v, mixed)
        query, key_t = _chefer_matmul(act.q, act.k.transpose(-2, -1), attention)
        qkv = torch.stack([query, key_t.transpose(-2, -1), value])  # [3, H, N, d]
        qkv = qkv.permute(2, 0, 1, 3).reshape(tokens, 3 * dim)
        relevance = residual + _alpha1_beta0(act.normed_1, mha.in_proj_weight, qkv)
        found.append(attention)
    return found[::-1]


def transformer_attribution(module, f: Forward, class_index: int, start_layer: int = 0):
    """Chefer et al. (CVPR 2021), eq. 13–14, from `start_layer` up."""
    relevance = np.stack([r.numpy() for r in chefer_attention_relevance(module, f, class_index)])
    fused = _positive_grad_times(f, relevance)[start_layer:]
    return peak_one(_sum_rule(fused)[0, 1:], grid_of(f))


# --- AttnLRP (Achtibat et al., ICML 2024) with the authors' lxt rules ------------------------

EPSILON = 1e-12  # lxt's stabiliser, made negligible so that float64 comparisons are exact


def attnlrp_patch_relevance(module, image: torch.Tensor, class_index: int) -> torch.Tensor:
    """Signed relevance of each patch, `[g, g]`, with lxt's explicit relevance functions: the
    ε-rule (`linear_epsilon`, `add2`), the softmax Taylor rule (`softmax`), the uniform rule
    for matrix products (`matmul`), the identity rule for GELU and LayerNorm's division by its
    standard deviation (`identity`, `layer_norm_grad_fn`). Their backward passes carry the
    relevance itself, seeded with the logit."""
    import lxt.explicit.functional as lf
    from lxt.explicit.functional import layer_norm_grad_fn
    from lxt.explicit.rules import identity

    def layer_norm(x, norm):
        return layer_norm_grad_fn.apply(x, norm.weight, norm.bias, norm.eps, EPSILON)

    p = module.patch_size
    pixels = image[None].to(module.class_token.dtype).requires_grad_(True)
    patches = F.unfold(pixels, p, stride=p).transpose(1, 2)  # [1, g², 3·p·p]
    weight = module.conv_proj.weight.reshape(module.hidden_dim, -1)
    tokens = lf.linear_epsilon(patches, weight, module.conv_proj.bias, EPSILON)
    x = lf.add2(torch.cat([module.class_token, tokens], 1),
                module.encoder.pos_embedding.detach(), False, EPSILON)  # fmt: skip
    for block in module.encoder.layers:
        mha = block.self_attention
        n, d, heads = x.shape[1], x.shape[2], mha.num_heads
        qkv = lf.linear_epsilon(layer_norm(x, block.ln_1), mha.in_proj_weight,
                                mha.in_proj_bias, EPSILON)  # fmt: skip
        q, k, v = qkv.view(1, n, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
        scores = lf.matmul(lf.mul2(q, 1 / math.sqrt(d // heads)), k.transpose(-2, -1),
                           False, EPSILON)  # fmt: skip
        mixed = lf.matmul(lf.softmax(scores, -1), v, False, EPSILON)
        mixed = mixed.transpose(1, 2).reshape(1, n, d)
        out = lf.linear_epsilon(mixed, mha.out_proj.weight, mha.out_proj.bias, EPSILON)
        x = lf.add2(x, out, False, EPSILON)
        fc1, activation, fc2 = block.mlp[0], block.mlp[1], block.mlp[3]
        hidden = identity(activation, lf.linear_epsilon(layer_norm(x, block.ln_2), fc1.weight,
                                                        fc1.bias, EPSILON))  # fmt: skip
        x = lf.add2(x, lf.linear_epsilon(hidden, fc2.weight, fc2.bias, EPSILON), False, EPSILON)
    head = module.heads.head
    logits = lf.linear_epsilon(layer_norm(x, module.encoder.ln)[:, 0], head.weight, head.bias,
                               EPSILON)  # fmt: skip
    logit = logits[0, class_index]
    (relevance,) = torch.autograd.grad(logit, patches, grad_outputs=logit.detach())
    grid = module.image_size // p
    return relevance.sum(dim=-1).reshape(grid, grid).detach()


def attnlrp(module, image: torch.Tensor, class_index: int) -> np.ndarray:
    relevance = attnlrp_patch_relevance(module, image, class_index).numpy()
    return relevance / np.abs(relevance).max()
