"""One forward pass -> an immutable `Analysis` holding everything the views show.

The model runs once (and once more for AttnLRP maps, when asked for: their backward functions
differ). Everything interactive afterwards (head fusion, discard ratio, start layer, layer, head,
patch, class among those with cached gradients or maps) is recomputed from the numpy arrays
held here by the functions in `attribution`, without touching the model again.

An `Analysis` is plain numpy: the window imports this module before torch has loaded, and
`analyze` imports torch when it runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from vit_studio.engine import attribution
from vit_studio.engine.errors import StudioError
from vit_studio.engine.explain.relevance import grad_cam, signed_patch_map
from vit_studio.engine.model import NO_CLASSIFIER

if TYPE_CHECKING:
    import torch

    from vit_studio.engine.images import PreparedImage
    from vit_studio.engine.model import StudioModel

# How many of the best classes are listed, exported and given class gradients by default.
TOP_K = 5


@dataclass(frozen=True)
class Prediction:
    index: int
    label: str
    probability: float


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Analysis:
    """Everything one forward pass revealed about one image. Arrays are float32, read-only.

    `attentions` is `[L, H, N, N]` with the class token at index 0 and patches in row-major
    order; `class_relevance` maps a class index to its Chefer-style relevance `[L, N, N]`,
    `gradcam` the same classes to their Grad-CAM map `[g, g]` (max 1), and `attnlrp` the classes
    asked for to their signed AttnLRP map `[g, g]` (largest magnitude 1).
    A backbone's analysis has no classes (`C == 0`): everything but predictions and
    class-specific rollout is there, and those two raise a `StudioError` saying why.
    """

    model_name: str
    class_names: tuple[str, ...]
    image_size: int
    patch_size: int
    pixels: np.ndarray  # uint8 [H, W, 3], the crop the model saw
    input: np.ndarray  # [3, H, W], the exact normalised tensor fed to the model
    logits: np.ndarray  # [C]
    probs: np.ndarray  # [C]
    attentions: np.ndarray  # [L, H, N, N]
    token_norms: np.ndarray  # [L, N], L2 norm of every token after each block
    # [L, C]: the class token after each block read through the final LayerNorm and head, as
    # probabilities (the "logit lens", nostalgebraist 2020): how the prediction forms with depth.
    # The last row is `probs`.
    logit_lens: np.ndarray
    pos_similarity: np.ndarray  # [g, g, g, g]
    mean_attention_distance: np.ndarray  # [L, H], pixels
    class_relevance: Mapping[int, np.ndarray] = field(default_factory=dict)
    gradcam: Mapping[int, np.ndarray] = field(default_factory=dict)
    attnlrp: Mapping[int, np.ndarray] = field(default_factory=dict)
    timings_ms: Mapping[str, float] = field(default_factory=dict)

    @property
    def grid_size(self) -> int:
        return self.image_size // self.patch_size

    @property
    def num_layers(self) -> int:
        return self.attentions.shape[0]

    @property
    def num_heads(self) -> int:
        return self.attentions.shape[1]

    @property
    def has_classifier(self) -> bool:
        return len(self.class_names) > 0

    def no_classes(self, what: str) -> StudioError:
        """The error for asking a backbone's analysis for classes ('to predict', ...)."""
        return StudioError(f"{self.model_name} has no classes {what} ({NO_CLASSIFIER})")

    def top_k(self, k: int = 5) -> list[Prediction]:
        if not self.has_classifier:
            raise self.no_classes("to predict")
        order = np.argsort(-self.probs, kind="stable")[: max(1, k)]
        return [Prediction(int(i), self.class_names[i], float(self.probs[i])) for i in order]

    @property
    def cls_attention(self) -> np.ndarray:
        """Class-token attention to each patch per layer and head, `[L, H, g, g]`."""
        return attribution.cls_attention_maps(self.attentions, self.grid_size)

    def rollout(
        self, head_fusion: str = "mean", discard_ratio: float = 0.0, start_layer: int = 0
    ) -> np.ndarray:
        """Attention rollout of the class token on the patch grid, `[g, g]`, max 1."""
        return attribution.attention_rollout(
            self.attentions, self.grid_size, head_fusion, discard_ratio, start_layer
        )

    def gradient_rollout(
        self, class_index: int, discard_ratio: float = 0.0, start_layer: int = 0
    ) -> np.ndarray:
        """Class-specific (gradient-weighted) rollout, `[g, g]`, max 1."""
        if not self.has_classifier:
            raise self.no_classes("to explain with a class-specific rollout")
        if class_index not in self.class_relevance:
            raise StudioError(
                f"no gradients were captured for class {class_index}; "
                f"available: {sorted(self.class_relevance)} (analyse with gradient_classes)"
            )
        return attribution.gradient_rollout(
            self.class_relevance[class_index], self.grid_size, discard_ratio, start_layer
        )

    def patch_attention(self, layer: int, patch: int, head: int | None = None) -> np.ndarray:
        """Where one patch attends in `layer` (one head, or the heads' mean), `[g, g]`."""
        return attribution.patch_attention_map(self.attentions, self.grid_size, layer, patch, head)

    def patch_pos_similarity(self, patch: int) -> np.ndarray:
        """Cosine similarity of one patch's position embedding to every patch's, `[g, g]`."""
        row, col = divmod(patch, self.grid_size)
        return self.pos_similarity[row, col]

    def patch_token_norms(self) -> np.ndarray:
        """Patch-token norms per layer on the grid, `[L, g, g]` (class token left out)."""
        g = self.grid_size
        return self.token_norms[:, 1:].reshape(self.num_layers, g, g)


def best_prediction_text(analysis: Analysis) -> str:
    """'cat (55.6%)', or for a backbone 'no classes (a backbone without a classifier: ...)'."""
    if not analysis.has_classifier:
        return f"no classes ({NO_CLASSIFIER})"
    best = analysis.top_k(1)[0]
    return f"{best.label} ({best.probability:.1%})"


def _resolve_gradient_classes(
    gradient_classes: int | Iterable[int] | None,
    probs: torch.Tensor,
    model: StudioModel,
    what: str = "to explain with a class-specific rollout",
) -> list[int]:
    """`None` -> none, an int k -> the top-k predicted classes, else the given indices.

    A backbone has no top-k, so an int asks for nothing; naming classes is an error.
    """
    import torch

    if gradient_classes is None:
        return []
    if isinstance(gradient_classes, int):
        k = min(gradient_classes, probs.numel())
        return [int(i) for i in torch.topk(probs, k).indices]
    chosen = [int(i) for i in gradient_classes]
    if chosen:
        model.require_classifier(what)
    for index in chosen:
        if not 0 <= index < probs.numel():
            raise StudioError(f"class index {index} is out of range 0..{probs.numel() - 1}")
    return chosen


def analyze(
    model: StudioModel,
    image: PreparedImage,
    *,
    gradient_classes: int | Iterable[int] | None = None,
    attnlrp_classes: int | Iterable[int] | None = None,
) -> Analysis:
    """Run the model once on a prepared image and capture everything the views need.

    `gradient_classes` adds class-specific relevance for gradient rollout and Grad-CAM: an int
    k means the k most probable classes, a list names classes. Each class costs one backward
    pass through the graph of the same forward pass (the forward is not repeated).
    `attnlrp_classes` (the same forms) adds AttnLRP maps: one more forward and backward pass of
    a batch holding the image once per class.
    """
    import torch

    from vit_studio.engine.capture import captured_forward

    module = model.module.eval()
    device = model.device
    batch = image.tensor.unsqueeze(0).to(device, module.class_token.dtype)
    wants_gradients = gradient_classes is not None

    clock = _Clock(device)
    with torch.enable_grad() if wants_gradients else torch.inference_mode():
        if wants_gradients:
            batch.requires_grad_(True)
        capture = captured_forward(module, batch)
        logits = capture.logits[0]
        clock.lap("forward")
        probs = torch.softmax(logits.detach().float(), dim=-1)
        attentions_t = torch.stack([a[0] for a in capture.attentions]).detach()
        relevance: dict[int, np.ndarray] = {}
        gradcam: dict[int, np.ndarray] = {}
        chosen = _resolve_gradient_classes(gradient_classes, probs, model)
        for position, class_index in enumerate(chosen):
            grads = torch.autograd.grad(
                logits[class_index], capture.attentions, retain_graph=position < len(chosen) - 1
            )
            # autograd.grad returns gradients in the order of its inputs, so layer l's gradient
            # is paired with layer l's attention by construction.
            grads_t = torch.stack([g[0] for g in grads])
            relevance[class_index] = _frozen(
                (attentions_t * grads_t).clamp(min=0).mean(dim=1).float().cpu().numpy()
            )
            gradcam[class_index] = _frozen(
                grad_cam(
                    attentions_t[-1:].float().cpu().numpy(),
                    grads_t[-1:].float().cpu().numpy(),
                    model.arch.grid_size,
                )
            )
        if chosen:
            clock.lap("gradients")
        attentions = attentions_t.float().cpu().numpy()
        token_norms = torch.stack([out[0].detach().norm(dim=-1) for out in capture.block_outputs])
        with torch.no_grad():
            class_states = torch.stack([out[0, 0] for out in capture.block_outputs])
            lens = torch.softmax(module.heads(module.encoder.ln(class_states)).float(), dim=-1)
        pos_embedding = module.encoder.pos_embedding[0].detach().float().cpu().numpy()
        logits_np = logits.detach().float().cpu().numpy()

    # AttnLRP needs autograd, which the inference mode of a plain analysis shuts off.
    lrp_classes = _resolve_gradient_classes(attnlrp_classes, probs, model, "to explain")
    lrp_maps = _attnlrp_maps(model, batch.detach(), lrp_classes)
    if lrp_classes:
        clock.lap("attnlrp")
    arch = model.arch
    pos_similarity = attribution.pos_embedding_similarity(pos_embedding, arch.grid_size)
    distances = attribution.mean_attention_distance(attentions, arch.grid_size, arch.patch_size)
    clock.lap("analysis")
    return Analysis(
        model_name=model.meta.name,
        class_names=model.meta.class_names,
        image_size=arch.image_size,
        patch_size=arch.patch_size,
        pixels=_frozen(image.pixels),
        input=_frozen(image.tensor.detach().float().cpu().numpy()),
        logits=_frozen(logits_np),
        probs=_frozen(probs.cpu().numpy()),
        attentions=_frozen(attentions),
        token_norms=_frozen(token_norms.float().cpu().numpy()),
        logit_lens=_frozen(lens.cpu().numpy()),
        pos_similarity=_frozen(pos_similarity),
        mean_attention_distance=_frozen(distances),
        class_relevance=MappingProxyType(relevance),
        gradcam=MappingProxyType(gradcam),
        attnlrp=MappingProxyType(lrp_maps),
        timings_ms=MappingProxyType(clock.laps),
    )


def _attnlrp_maps(
    model: StudioModel, batch: torch.Tensor, classes: list[int]
) -> dict[int, np.ndarray]:
    """Signed AttnLRP maps of the image in `batch` `[1, 3, H, W]`, one per class."""
    if not classes:
        return {}
    import torch

    from vit_studio.engine.explain.attnlrp import attnlrp

    found = attnlrp(
        model.module,
        batch.expand(len(classes), -1, -1, -1),
        torch.tensor(classes, device=batch.device),
    )
    patches = found.patch_relevance(model.arch.patch_size).float().cpu().numpy()
    return {c: _frozen(signed_patch_map(p)) for c, p in zip(classes, patches, strict=True)}


class _Clock:
    """Wall-clock laps in milliseconds; waits for the GPU so a lap measures finished work."""

    def __init__(self, device: torch.device) -> None:
        self._device = device
        self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        if self._device.type == "cuda":
            import torch

            torch.cuda.synchronize(self._device)
        now = time.perf_counter()
        self.laps[name] = (now - self._last) * 1000.0
        self._last = now
