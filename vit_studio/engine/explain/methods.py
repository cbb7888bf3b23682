"""Every attribution map of one image from one captured forward pass.

The forward pass records each layer's attention (and, for transformer attribution, each
block's input); one backward pass from the explained class's logit gives the attention
gradients; everything else is arithmetic on those tensors.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vit_studio.engine import attribution
from vit_studio.engine.capture import capturing
from vit_studio.engine.errors import StudioError
from vit_studio.engine.explain import lrp, relevance
from vit_studio.engine.model import StudioModel

METHODS = (
    "random",
    "raw_attention",
    "rollout",
    "gradient_rollout",
    "generic_attention",
    "transformer_attribution",
)
METHOD_DESCRIPTIONS = {
    "random": "uniform noise, the baseline",
    "raw_attention": "last layer's class-token attention, mean of heads",
    "rollout": "attention rollout (Abnar & Zuidema 2020), mean of heads",
    "gradient_rollout": "class-specific rollout: Chefer's head fusion (∇A ⊙ A)⁺ with Abnar's "
    "row renormalisation",
    "generic_attention": "generic attention explainability (Chefer et al., ICCV 2021)",
    "transformer_attribution": "LRP relevance × attention gradient (Chefer et al., CVPR 2021)",
}
_NEEDS_GRADIENTS = frozenset({"gradient_rollout", "generic_attention", "transformer_attribution"})


@dataclass(frozen=True)
class Explanations:
    """The maps of one image (`[g, g]` float32, max 1 except `random`) for `class_index`."""

    predicted: int
    class_index: int
    probs: np.ndarray
    maps: dict[str, np.ndarray]


def check_methods(methods: Sequence[str]) -> tuple[str, ...]:
    """`methods` in the given order, or a `StudioError` naming the unknown one and the choices."""
    for name in methods:
        if name not in METHODS:
            raise StudioError(f"method '{name}' is unknown; choose from {', '.join(METHODS)}")
    if not methods:
        raise StudioError(f"no method given; choose from {', '.join(METHODS)}")
    return tuple(methods)


@contextlib.contextmanager
def _recording_block_inputs(module: nn.Module, record: list[torch.Tensor]) -> Iterator[None]:
    hooks = [
        block.register_forward_pre_hook(lambda _m, args: record.append(args[0]))
        for block in module.encoder.layers
    ]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()


def explain(
    model: StudioModel,
    tensor: torch.Tensor,
    methods: Sequence[str] = METHODS,
    *,
    class_index: int | None = None,
    rng: np.random.Generator | None = None,
) -> Explanations:
    """The maps of `methods` for one normalised image `[3, H, W]`.

    `class_index` defaults to the predicted class; `rng` draws the random map (seed 0 if none).
    """
    methods = check_methods(methods)
    model.require_classifier("to explain")
    module = model.module.eval()
    grid = model.arch.grid_size
    wants_gradients = bool(_NEEDS_GRADIENTS.intersection(methods))
    block_inputs: list[torch.Tensor] = []
    recording = (
        _recording_block_inputs(module, block_inputs)
        if "transformer_attribution" in methods
        else contextlib.nullcontext()
    )
    batch = tensor.unsqueeze(0).to(model.device)
    with torch.enable_grad() if wants_gradients else torch.inference_mode():
        if wants_gradients:
            # Frozen weights would leave the attentions outside the graph.
            batch.requires_grad_(True)
        with capturing(module) as capture, recording:
            logits = module(batch)[0]
        probs = torch.softmax(logits.detach().float(), dim=-1)
        predicted = int(probs.argmax())
        target = predicted if class_index is None else int(class_index)
        if not 0 <= target < probs.numel():
            raise StudioError(f"class index {target} is out of range 0..{probs.numel() - 1}")
        gradients = None
        if wants_gradients:
            gradients = torch.autograd.grad(logits[target], capture.attentions)
        attentions = torch.stack([a[0] for a in capture.attentions]).detach().float().cpu()

    attentions_np = attentions.numpy()
    gradients_np = (
        torch.stack([g[0] for g in gradients]).float().cpu().numpy() if gradients else None
    )
    maps: dict[str, np.ndarray] = {}
    for name in methods:
        if name == "random":
            maps[name] = relevance.random_map(grid, rng or np.random.default_rng(0))
        elif name == "raw_attention":
            maps[name] = relevance.raw_attention(attentions_np, grid)
        elif name == "rollout":
            maps[name] = attribution.attention_rollout(attentions_np, grid)
        elif name == "gradient_rollout":
            fused = attribution.gradient_relevance(attentions_np, gradients_np)
            maps[name] = attribution.gradient_rollout(fused, grid)
        elif name == "generic_attention":
            fused = attribution.gradient_relevance(attentions_np, gradients_np)
            maps[name] = relevance.generic_attention(fused, grid)
        else:
            inputs = [x.detach() for x in block_inputs]
            found = lrp.propagate(module, inputs, torch.tensor([target], device=model.device))
            attention_relevance = torch.stack([r[0] for r in found.attention]).float().cpu()
            maps[name] = relevance.transformer_attribution(
                attention_relevance.numpy(), gradients_np, grid
            )
    return Explanations(predicted, target, probs.cpu().numpy(), maps)
