"""Every attribution map of one image from one captured forward pass, and AttnLRP's own pass.

The captured forward pass records each layer's attention (and, for transformer attribution, each
block's input); one backward pass from the explained class's logit gives the attention
gradients; everything but AttnLRP is arithmetic on those tensors. AttnLRP runs its own forward
and backward pass (`attnlrp`), which also gives the prediction when no other method needs the
captured one. Maps keep float64 when the model is cast to it.
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
from vit_studio.engine.explain.attnlrp import attnlrp
from vit_studio.engine.model import StudioModel

METHODS = (
    "random",
    "raw_attention",
    "rollout",
    "gradcam",
    "gradient_rollout",
    "generic_attention",
    "transformer_attribution",
    "attnlrp",
)
METHOD_DESCRIPTIONS = {
    "random": "uniform noise, the baseline",
    "raw_attention": "last layer's class-token attention, mean of heads",
    "rollout": "attention rollout (Abnar & Zuidema 2020), mean of heads",
    "gradcam": "Grad-CAM on the last layer's class-token attention, heads weighted by their mean "
    "gradient (Chefer et al.'s ViT baseline)",
    "gradient_rollout": "class-specific rollout: Chefer's head fusion (∇A ⊙ A)⁺ with Abnar's "
    "row renormalisation",
    "generic_attention": "generic attention explainability (Chefer et al., ICCV 2021)",
    "transformer_attribution": "LRP relevance × attention gradient (Chefer et al., CVPR 2021)",
    "attnlrp": "AttnLRP: layer-wise relevance through attention too (Achtibat et al., ICML "
    "2024); signed",
}
# Maps whose sign means something (for or against the class): scaled to a largest magnitude
# of 1 and drawn with a diverging colour map.
SIGNED_METHODS = frozenset({"attnlrp"})
_NEEDS_GRADIENTS = frozenset(
    {"gradcam", "gradient_rollout", "generic_attention", "transformer_attribution"}
)
_OWN_PASS = frozenset({"random", "attnlrp"})  # need nothing of the captured forward pass


@dataclass(frozen=True)
class Explanations:
    """The maps of one image, `[g, g]`, for `class_index`: max 1, except `random` (noise in
    [0, 1)) and the `SIGNED_METHODS` (largest magnitude 1). float32, or float64 for a model cast
    to float64."""

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
    start_layer: int = 0,
) -> Explanations:
    """The maps of `methods` for one normalised image `[3, H, W]`.

    `class_index` defaults to the predicted class; `rng` draws the random map (seed 0 if none);
    `start_layer` is the first layer transformer attribution multiplies in (0 as in the paper's
    equations and the explorer; the authors' evaluation script uses 1).
    """
    methods = check_methods(methods)
    model.require_classifier("to explain")
    module = model.module.eval()
    grid = model.arch.grid_size
    classes = model.arch.num_classes
    if class_index is not None and not 0 <= class_index < classes:
        raise StudioError(f"class index {class_index} is out of range 0..{classes - 1}")
    if not 0 <= start_layer < model.arch.num_layers:
        raise StudioError(
            f"start layer {start_layer} is out of range 0..{model.arch.num_layers - 1}"
        )
    batch = tensor.unsqueeze(0).to(model.device, module.class_token.dtype)
    maps: dict[str, np.ndarray] = {}
    probs = None
    captured = [name for name in methods if name not in _OWN_PASS]
    if captured:
        probs, found = _captured_maps(module, batch, captured, grid, class_index, start_layer)
        maps.update(found)
    if "attnlrp" in methods:
        # Without a captured pass the prediction is not known yet: AttnLRP's own pass explains
        # its predicted class, and its logits are the model's.
        target = class_index if probs is None else _target(probs, class_index)
        chosen = None if target is None else torch.tensor([target], device=model.device)
        result = attnlrp(module, batch, chosen)
        if probs is None:
            probs = _probabilities(result.logits[0])
        patch_relevance = result.patch_relevance(model.arch.patch_size)[0]
        maps["attnlrp"] = relevance.signed_patch_map(patch_relevance.cpu().numpy())
    if probs is None:  # random alone: a plain forward for the prediction
        with torch.inference_mode():
            probs = _probabilities(module(batch)[0])
    if "random" in methods:
        maps["random"] = relevance.random_map(grid, rng or np.random.default_rng(0))
    ordered = {name: maps[name] for name in methods}
    return Explanations(int(probs.argmax()), _target(probs, class_index), probs, ordered)


def _target(probs: np.ndarray, class_index: int | None) -> int:
    return int(probs.argmax()) if class_index is None else int(class_index)


def _probabilities(logits: torch.Tensor) -> np.ndarray:
    """Softmax in float32, or in float64 for a model cast to it."""
    dtype = torch.float64 if logits.dtype == torch.float64 else torch.float32
    return torch.softmax(logits.detach().to(dtype), dim=-1).cpu().numpy()


def _captured_maps(
    module: nn.Module,
    batch: torch.Tensor,
    methods: Sequence[str],
    grid: int,
    class_index: int | None,
    start_layer: int,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The maps made from one captured forward (and one backward) pass: (probabilities,
    {method: map})."""
    wants_gradients = bool(_NEEDS_GRADIENTS.intersection(methods))
    block_inputs: list[torch.Tensor] = []
    recording = (
        _recording_block_inputs(module, block_inputs)
        if "transformer_attribution" in methods
        else contextlib.nullcontext()
    )
    with torch.enable_grad() if wants_gradients else torch.inference_mode():
        if wants_gradients:
            # Frozen weights would leave the attentions outside the graph.
            batch = batch.clone().requires_grad_(True)
        with capturing(module) as capture, recording:
            logits = module(batch)[0]
        probs = _probabilities(logits)
        target = _target(probs, class_index)
        gradients = None
        if wants_gradients:
            gradients = torch.autograd.grad(logits[target], capture.attentions)
        attentions = torch.stack([a[0] for a in capture.attentions]).detach()

    dtype = torch.float64 if attentions.dtype == torch.float64 else torch.float32
    attentions_np = attentions.to(dtype).cpu().numpy()
    gradients_np = (
        torch.stack([g[0] for g in gradients]).to(dtype).cpu().numpy() if gradients else None
    )
    maps: dict[str, np.ndarray] = {}
    for name in methods:
        if name == "raw_attention":
            maps[name] = relevance.raw_attention(attentions_np, grid)
        elif name == "rollout":
            maps[name] = attribution.attention_rollout(attentions_np, grid)
        elif name == "gradcam":
            maps[name] = relevance.grad_cam(attentions_np, gradients_np, grid)
        elif name == "gradient_rollout":
            fused = attribution.gradient_relevance(attentions_np, gradients_np)
            maps[name] = attribution.gradient_rollout(fused, grid)
        elif name == "generic_attention":
            fused = attribution.gradient_relevance(attentions_np, gradients_np)
            maps[name] = relevance.generic_attention(fused, grid)
        else:
            inputs = [x.detach() for x in block_inputs]
            found = lrp.propagate(module, inputs, torch.tensor([target], device=batch.device))
            attention_relevance = torch.stack([r[0] for r in found.attention]).to(dtype).cpu()
            maps[name] = relevance.transformer_attribution(
                attention_relevance.numpy(), gradients_np, grid, start_layer
            )
    return probs, maps
