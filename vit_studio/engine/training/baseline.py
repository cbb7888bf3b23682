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
# Fitted on at most this many training images (the first of each class): its features are the
# one thing here held in memory whole, so the cap keeps a run's memory flat in the folder's size
# (1,000 × 3,072 floats is 12 MB). Logistic regression on raw pixels gains little from more.
MAX_IMAGES = 1000
_CHUNK = 128  # images resized at a time (a float copy of 128 images at 224 px is 77 MB)
L2 = 1e-2  # on the mean cross-entropy: enough to keep a few hundred images from being memorised
MAX_ITERATIONS = 200


def pixel_features(images: torch.Tensor, size: int = PIXELS) -> torch.Tensor:
    """uint8 images [N, 3, H, W] -> [N, 3·size²] float32 in [0, 1], a chunk at a time."""
    chunks = [
        F.interpolate(chunk.float() / 255.0, size=(size, size), mode="bilinear",
                      antialias=True, align_corners=False).flatten(1)  # fmt: skip
        for chunk in images.split(_CHUNK)
    ]
    return torch.cat(chunks)


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
    keep = even_subset(train.labels, MAX_IMAGES, num_classes)
    features = torch.cat([pixel_features(train.images[chunk]) for chunk in keep.split(_CHUNK)])
    with torch.enable_grad():
        mean, std = features.mean(0), features.std(0).clamp_min(1e-3)
        weight, bias = fit_logistic_regression(
            (features - mean) / std, train.labels[keep], num_classes
        )
    correct = 0
    for start in range(0, len(test.labels), _CHUNK):  # the test images stream too
        chunk = pixel_features(test.images[start : start + _CHUNK])
        scores = ((chunk - mean) / std) @ weight.T + bias
        correct += int((scores.argmax(1) == test.labels[start : start + _CHUNK]).sum())
    return correct / len(test.labels)


def even_subset(labels: torch.Tensor, limit: int, num_classes: int) -> torch.Tensor:
    """Indices of at most `limit` items, the first of each class in turn."""
    if len(labels) <= limit:
        return torch.arange(len(labels))
    order = torch.argsort(labels, stable=True)
    counts = torch.bincount(labels, minlength=num_classes)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(labels)) - starts[labels[order]]  # position within its class
    by_rank = order[torch.argsort(rank, stable=True)]
    return torch.sort(by_rank[:limit]).values
