"""The obvious baseline a fine-tune must beat: logistic regression on the raw pixels.

Each image is resized to 32 × 32, its pixels standardised with the training images' mean and
spread, and a multinomial logistic regression with a little L2 is fitted by L-BFGS (full batch,
plain torch). A fine-tuned ViT that does no better than this has learned nothing beyond what
the pixels say on their own, so the fine-tune panel, the CLI and `benchmarks/bench_finetune.py`
show it beside the model's accuracy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vit_studio.engine.data import CachedImages

PIXELS = 32  # side the images are resized to: 3 072 features
MAX_IMAGES = 5000  # fitted on at most this many training images (the first of each class)
L2 = 1e-2  # on the mean cross-entropy: enough to keep a few hundred images from being memorised
MAX_ITERATIONS = 200


def pixel_features(images: torch.Tensor, size: int = PIXELS) -> torch.Tensor:
    """uint8 images [N, 3, H, W] -> [N, 3·size²] float32 in [0, 1]."""
    small = F.interpolate(images.float() / 255.0, size=(size, size), mode="bilinear",
                          antialias=True, align_corners=False)  # fmt: skip
    return small.flatten(1)


def fit_logistic_regression(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int, l2: float = L2
) -> tuple[torch.Tensor, torch.Tensor]:
    """(weight [C, D], bias [C]) minimising mean cross-entropy + l2 · |weight|²."""
    generator = torch.Generator().manual_seed(0)
    weight = (0.01 * torch.randn(num_classes, features.shape[1], generator=generator))
    weight.requires_grad_(True)
    bias = torch.zeros(num_classes, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=MAX_ITERATIONS,
                                  line_search_fn="strong_wolfe")  # fmt: skip

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(features @ weight.T + bias, labels) + l2 * weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()


def pixel_baseline(train: CachedImages, test: CachedImages, num_classes: int) -> float:
    """Top-1 accuracy on `test` of logistic regression fitted to `train`'s raw pixels (to at
    most `MAX_IMAGES` of them, taken evenly from the classes, so a large folder stays quick)."""
    keep = _even_subset(train.labels, MAX_IMAGES, num_classes)
    images, labels = train.images[keep], train.labels[keep]
    with torch.enable_grad():
        features = pixel_features(images)
        mean, std = features.mean(0), features.std(0).clamp_min(1e-3)
        weight, bias = fit_logistic_regression((features - mean) / std, labels, num_classes)
    scores = ((pixel_features(test.images) - mean) / std) @ weight.T + bias
    return float((scores.argmax(1) == test.labels).float().mean())


def _even_subset(labels: torch.Tensor, limit: int, num_classes: int) -> torch.Tensor:
    """Indices of at most `limit` items, the first of each class in turn."""
    if len(labels) <= limit:
        return torch.arange(len(labels))
    order = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels, minlength=num_classes)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(labels)) - starts[labels[order]]  # position within its class
    by_rank = order[torch.argsort(rank, stable=True)]
    return torch.sort(by_rank[:limit]).values
