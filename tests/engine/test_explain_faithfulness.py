"""Perturbation curves and their AUCs, on a hand-built ViT whose answer is known patch by patch."""

import numpy as np
import pytest
import torch

from tests.conftest import random_model
from tests.engine.one_patch_vit import LOOKED_AT, bright_patch_image, one_patch_vit
from vit_studio.engine.explain.faithfulness import (
    CURVE_FRACTIONS,
    PERTURBATION_FRACTIONS,
    Curves,
    perturbation_curves,
    removal_masks,
)


def vit_probability(module, image, class_index):
    """The probability of `class_index` for one image, by a plain forward."""
    with torch.no_grad():
        return float(torch.softmax(module(image[None]), dim=-1)[0, class_index])


def ranking_first(patch: int, patches: int = 16) -> np.ndarray:
    """A map that ranks `patch` first and the others in row-major order after it."""
    relevance = np.linspace(0.5, 0.0, patches, dtype=np.float32)
    relevance[patch] = 1.0
    return relevance.reshape(4, 4)


def ranking_last(patch: int, patches: int = 16) -> np.ndarray:
    relevance = ranking_first(patch, patches)
    relevance.ravel()[patch] = -1.0
    return relevance


@pytest.fixture
def looked_at():
    model = one_patch_vit()
    image = bright_patch_image()
    assert int(model.module(image[None]).argmax()) == 0
    return model, image


def test_removing_the_looked_at_patch_first_changes_the_prediction_at_once(looked_at):
    model, image = looked_at
    curves = perturbation_curves(model.module, image, ranking_first(LOOKED_AT), predicted=0)
    np.testing.assert_array_equal(curves.positive, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(curves.negative, np.ones(10))
    aucs = curves.aucs()
    assert aucs["positive_auc"] == pytest.approx(5.0)  # 100 × the first half-step
    assert aucs["negative_auc"] == pytest.approx(90.0)  # the most by this convention


def test_deletion_and_insertion_follow_the_looked_at_patch(looked_at):
    model, image = looked_at
    without_patch = image.clone()
    row, col = divmod(LOOKED_AT, 4)
    without_patch[:, row * 4 : row * 4 + 4, col * 4 : col * 4 + 4] = 0.0
    bright = vit_probability(model.module, image, 0)
    removed = vit_probability(model.module, without_patch, 0)
    blank = vit_probability(model.module, torch.zeros_like(image), 0)
    curves = perturbation_curves(model.module, image, ranking_first(LOOKED_AT), predicted=0)
    # Deleting the most relevant 10 % (2 of 16 patches) removes the one that matters; inserting
    # them restores it.
    np.testing.assert_allclose(curves.deletion, [bright] + [removed] * 10, rtol=1e-5)
    np.testing.assert_allclose(curves.insertion, [blank] + [bright] * 10, rtol=1e-5)
    aucs = curves.aucs()
    assert aucs["deletion_auc"] == pytest.approx(0.05 * (bright + removed) + 0.9 * removed)
    assert aucs["insertion_auc"] == pytest.approx(0.05 * (blank + bright) + 0.9 * bright)


def test_a_map_that_ranks_the_patch_last_keeps_the_prediction_under_positive_perturbation(
    looked_at,
):
    model, image = looked_at
    curves = perturbation_curves(model.module, image, ranking_last(LOOKED_AT), predicted=0)
    np.testing.assert_array_equal(curves.positive, np.ones(10))
    # Negative perturbation removes the least relevant first: 2 of 16 at 10 %, the patch among them.
    np.testing.assert_array_equal(curves.negative, [1, 0, 0, 0, 0, 0, 0, 0, 0, 0])


def test_every_point_of_the_four_curves_comes_from_one_batched_forward(looked_at):
    model, image = looked_at
    batches = []
    hook = model.module.register_forward_hook(lambda _m, args, _o: batches.append(len(args[0])))
    try:
        perturbation_curves(model.module, image, ranking_first(LOOKED_AT), predicted=0)
    finally:
        hook.remove()
    # 11 removals of the most relevant (0 .. all) and 9 of the least relevant (10 % .. 90 %):
    # deletion repeats positive, insertion repeats negative.
    assert batches == [20]


def test_removal_masks_remove_round_fraction_of_patches_in_map_order():
    relevance = np.arange(16, dtype=np.float32)[::-1].reshape(4, 4)  # patch 0 most relevant
    masks, points = removal_masks(relevance)
    removed = masks.sum(axis=1)
    np.testing.assert_array_equal(removed[points["positive"]], [0, 2, 3, 5, 6, 8, 10, 11, 13, 14])
    np.testing.assert_array_equal(removed[points["deletion"]][-1], 16)
    assert masks[points["positive"][1]].nonzero()[0].tolist() == [0, 1]
    assert masks[points["negative"][1]].nonzero()[0].tolist() == [14, 15]
    assert masks[points["insertion"][1]].nonzero()[0].tolist() == list(range(2, 16))


def test_auc_conventions_trapezoid_over_the_fraction_axis():
    ones = Curves(np.ones(10), np.ones(10), np.ones(11), np.ones(11))
    assert ones.aucs() == pytest.approx(
        {"positive_auc": 90.0, "negative_auc": 90.0, "deletion_auc": 1.0, "insertion_auc": 1.0}
    )
    falling = Curves(
        1.0 - PERTURBATION_FRACTIONS, np.zeros(10), 1.0 - CURVE_FRACTIONS, CURVE_FRACTIONS
    )
    aucs = falling.aucs()
    assert aucs["positive_auc"] == pytest.approx(100 * (0.9 - 0.81 / 2))
    assert aucs["deletion_auc"] == pytest.approx(0.5)
    assert aucs["insertion_auc"] == pytest.approx(0.5)


def test_curves_at_fraction_zero_and_full_insertion_are_the_unperturbed_image():
    model = random_model()
    image = torch.randn(3, 32, 32)
    predicted = int(model.module.eval()(image[None]).argmax())
    relevance = np.random.default_rng(0).random((4, 4))
    curves = perturbation_curves(model.module, image, relevance, predicted)
    unperturbed = vit_probability(model.module, image, predicted)
    assert curves.positive[0] == curves.negative[0] == 1.0
    assert curves.deletion[0] == pytest.approx(unperturbed, rel=1e-5)
    assert curves.insertion[-1] == pytest.approx(unperturbed, rel=1e-5)
