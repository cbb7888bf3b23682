"""How well a map ranks the patches the model relies on: perturbation curves and their AUCs.

Removing a patch sets its pixels to 0 in the normalised input, i.e. to the dataset mean.

- Positive / negative perturbation (Chefer, Gur & Wolf, CVPR 2021, section 5): remove the
  fraction f ∈ {0, 0.1, …, 0.9} of patches ranked MOST (positive) or LEAST (negative) relevant
  and record whether the top-1 class is still the unperturbed prediction (1 or 0). The AUC is
  the trapezoid rule over f ∈ [0, 0.9] (steps of 0.1, as their `np.trapz` over the steps) × 100,
  so it lies in [0, 90]: lower is better for positive, higher for negative.
- Deletion / insertion (Petsiuk, Das & Saenko 2018, RISE): the probability of the unperturbed
  predicted class as the most relevant fraction f ∈ {0, 0.1, …, 1} of patches is removed from
  the image (deletion) or is all that is kept of it, the rest being the mean (insertion). The
  AUC is the trapezoid rule over f ∈ [0, 1], in [0, 1]: lower is better for deletion, higher
  for insertion.

Fraction f means round(f · patches) patches. Patches are ranked by a stable sort, so ties keep
row-major order. Many of these inputs coincide (deleting the top 30 % is positive perturbation
at 0.3; inserting the top 70 % is negative perturbation at 0.3), so each distinct input is run
once, all of them in one batched forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

PERTURBATION_FRACTIONS = np.round(np.arange(10) / 10, 1)  # 0 .. 0.9
CURVE_FRACTIONS = np.round(np.arange(11) / 10, 1)  # 0 .. 1
AUC_NAMES = ("positive_auc", "negative_auc", "deletion_auc", "insertion_auc")


@dataclass(frozen=True)
class Curves:
    """One image's four curves: agreement with the prediction (1/0), or its probability."""

    positive: np.ndarray  # [10], over PERTURBATION_FRACTIONS
    negative: np.ndarray  # [10]
    deletion: np.ndarray  # [11], over CURVE_FRACTIONS
    insertion: np.ndarray  # [11]

    def aucs(self) -> dict[str, float]:
        """The four areas, named as in `AUC_NAMES`, with the conventions of the module doc."""
        return {
            "positive_auc": 100.0 * _area(self.positive, PERTURBATION_FRACTIONS),
            "negative_auc": 100.0 * _area(self.negative, PERTURBATION_FRACTIONS),
            "deletion_auc": _area(self.deletion, CURVE_FRACTIONS),
            "insertion_auc": _area(self.insertion, CURVE_FRACTIONS),
        }


def _area(y: np.ndarray, x: np.ndarray) -> float:
    """The trapezoid rule (numpy's `trapezoid`, which numpy 1.x, still supported, lacks)."""
    return float(np.sum((y[1:] + y[:-1]) / 2.0 * np.diff(x)))


def _count(fraction: float, patches: int) -> int:
    return int(np.floor(fraction * patches + 0.5))


def removal_masks(relevance: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The distinct removal masks of the four curves and, per curve, which mask each point uses.

    Returns `(masks [M, P] bool, True = removed; {"positive": [10] indices into masks, ...})`.
    """
    patches = relevance.size
    order = np.argsort(-relevance.ravel(), kind="stable")

    def removing(selected: np.ndarray) -> np.ndarray:
        mask = np.zeros(patches, dtype=bool)
        mask[selected] = True
        return mask

    counts = [_count(f, patches) for f in PERTURBATION_FRACTIONS]
    all_counts = [_count(f, patches) for f in CURVE_FRACTIONS]
    curves = {
        "positive": [removing(order[:k]) for k in counts],
        "negative": [removing(order[patches - k :]) for k in counts],
        "deletion": [removing(order[:k]) for k in all_counts],
        "insertion": [removing(order[k:]) for k in all_counts],
    }
    stacked = np.stack([mask for masks in curves.values() for mask in masks])
    distinct, inverse = np.unique(stacked, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    points, start = {}, 0
    for name, masks in curves.items():
        points[name] = inverse[start : start + len(masks)]
        start += len(masks)
    return distinct, points


def perturbation_curves(
    module: nn.Module, tensor: torch.Tensor, relevance: np.ndarray, predicted: int
) -> Curves:
    """The four curves of one normalised image `[3, H, W]` ranked by `relevance` `[g, g]`.

    `predicted` is the unperturbed prediction the curves measure against.
    """
    grid = relevance.shape[0]
    size = tensor.shape[-1]
    patch = size // grid
    masks, points = removal_masks(relevance)
    keep = torch.from_numpy(~masks).to(tensor.device, tensor.dtype).view(-1, 1, grid, grid)
    keep = keep.repeat_interleave(patch, dim=2).repeat_interleave(patch, dim=3)
    with torch.inference_mode():
        logits = module(tensor.unsqueeze(0) * keep).float()
    agrees = (logits.argmax(dim=-1) == predicted).float().cpu().numpy()
    probability = torch.softmax(logits, dim=-1)[:, predicted].cpu().numpy()
    return Curves(
        positive=agrees[points["positive"]],
        negative=agrees[points["negative"]],
        deletion=probability[points["deletion"]],
        insertion=probability[points["insertion"]],
    )
