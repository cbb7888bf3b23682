"""The pixel baseline: logistic regression on raw 32 x 32 pixels, fitted by L-BFGS."""

from pathlib import Path

import torch

from vit_studio.engine.data import CachedImages
from vit_studio.engine.training.baseline import (
    even_subset,
    fit_logistic_regression,
    pixel_baseline,
    pixel_features,
)


def cached(images: torch.Tensor, labels: list[int]) -> CachedImages:
    paths = tuple(Path(f"{i}.png") for i in range(len(labels)))
    return CachedImages(images=images, labels=torch.tensor(labels), paths=paths, skipped=())


def test_features_are_the_pixels_at_32_px_in_0_to_1():
    images = torch.full((2, 3, 64, 64), 255, dtype=torch.uint8)
    features = pixel_features(images)
    assert features.shape == (2, 3 * 32 * 32) and torch.allclose(features, torch.ones(1))


def test_a_fitted_regression_is_a_minimum_of_its_loss():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(60, 5, generator=generator)
    labels = (features[:, 0] > 0).long() + (features[:, 1] > 1).long()
    weight, bias = fit_logistic_regression(features, labels, 3, l2=0.01)
    weight.requires_grad_(True)
    bias.requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(features @ weight.T + bias, labels)
    (loss + 0.01 * weight.square().sum()).backward()
    assert weight.grad.abs().max() < 1e-3 and bias.grad.abs().max() < 1e-3  # a stationary point


def test_images_told_apart_by_their_colour_are_told_apart_by_the_baseline():
    images = torch.zeros(20, 3, 16, 16, dtype=torch.uint8)
    labels = [i % 2 for i in range(20)]
    images[torch.tensor(labels) == 1, 0] = 200  # red for class 1
    images[torch.tensor(labels) == 0, 2] = 200  # blue for class 0
    data = cached(images, labels)
    assert pixel_baseline(data, data, 2) == 1.0


def test_a_large_folder_is_fitted_on_an_even_share_of_its_classes():
    labels = torch.tensor([0] * 90 + [1] * 10)
    keep = even_subset(labels, 20, 2)
    assert len(keep) == 20 and torch.bincount(labels[keep]).tolist() == [10, 10]
    assert torch.equal(even_subset(labels, 500, 2), torch.arange(100))
