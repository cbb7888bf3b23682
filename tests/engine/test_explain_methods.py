"""Every attribution map pinned to a longhand computation (`tests.engine.longhand`, which uses
nothing of the engine) on a tiny float64 model, a plausible wrong rule that the same check
catches for every method, and the maps on a ViT that looks at one patch."""

import numpy as np
import pytest
import torch

from tests.conftest import random_model
from tests.engine import longhand
from tests.engine.one_patch_vit import LOOKED_AT, bright_patch_image, one_patch_vit
from vit_studio.engine import attribution
from vit_studio.engine.errors import StudioError
from vit_studio.engine.explain import attnlrp, lrp, methods, relevance
from vit_studio.engine.explain.methods import METHODS, SIGNED_METHODS, explain

CLASS = 2  # explained in the pinned tests: not the predicted class of every seed
PINNED = [m for m in METHODS if m != "random"]


def float64_model(seed: int = 0):
    model = random_model(seed=seed)
    model.module.double()
    return model


def image(seed: int = 1) -> torch.Tensor:
    return torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(seed))


def expected_map(model, picture: torch.Tensor, method: str) -> np.ndarray:
    module = model.module
    f = longhand.forward(module, picture.double(), CLASS)
    if method == "transformer_attribution":
        return longhand.transformer_attribution(module, f, CLASS)
    if method == "attnlrp":
        return longhand.attnlrp(module, picture.double(), CLASS)
    return getattr(longhand, method)(f)


def assert_pinned(method: str, seed: int = 0) -> None:
    """The engine's map of `method` equals the longhand one, to float64 precision."""
    model, picture = float64_model(seed), image(seed + 1)
    found = explain(model, picture, [method], class_index=CLASS)
    assert found.maps[method].dtype == np.float64
    np.testing.assert_allclose(
        found.maps[method], expected_map(model, picture, method), rtol=1e-7, atol=1e-9
    )


@pytest.mark.parametrize("seed", [0, 2])  # Grad-CAM: all 16 patches positive, and 7
@pytest.mark.parametrize("method", PINNED)
def test_every_map_equals_its_longhand_computation(method, seed):
    assert_pinned(method, seed)


def _raw_attention_in_place_of_lrp(module, inputs, classes):
    found = _ORIGINAL_PROPAGATE(module, inputs, classes)
    with torch.no_grad():
        layers = zip(module.encoder.layers, inputs, strict=True)
        raw = [lrp.block_activations(block, x).attention for block, x in layers]
    return lrp.Relevance(attention=raw, tokens=found.tokens)


def _z_rule_linear(x, weight, relevance_out):
    return x * (lrp.safe_divide(relevance_out, x @ weight.T) @ weight)


def _grad_cam_per_token(attentions, gradients, grid_size):
    cam = (attentions[-1, :, 0, 1:] * gradients[-1, :, 0, 1:]).mean(axis=0)
    return relevance._scaled(np.clip(cam, 0, None), grid_size)


_ORIGINAL_PROPAGATE = lrp.propagate
_ORIGINAL_ROLLOUT = attribution.attention_rollout
_ORIGINAL_RAW = relevance.raw_attention
_ORIGINAL_SOFTMAX = torch.softmax

# (method, what is wrong, (object, attribute, wrong replacement)): each a plausible mistake.
WRONG_RULES = [
    ("raw_attention", "first layer instead of the last",
     (relevance, "raw_attention", lambda a, g: _ORIGINAL_RAW(a[:1], g))),
    ("rollout", "max of heads instead of the mean",
     (attribution, "attention_rollout", lambda a, g: _ORIGINAL_ROLLOUT(a, g, "max"))),
    ("gradcam", "per-token gradient instead of the head's mean gradient",
     (relevance, "grad_cam", _grad_cam_per_token)),
    ("gradient_rollout", "negative ∇A ⊙ A kept",
     (attribution, "gradient_relevance", lambda a, g: (a * g).mean(axis=1))),
    ("generic_attention", "raw attention in place of ∇A ⊙ A",
     (attribution, "gradient_relevance", lambda a, g: a.mean(axis=1))),
    ("transformer_attribution", "raw attention in place of the LRP relevance",
     (methods.lrp, "propagate", _raw_attention_in_place_of_lrp)),
    ("transformer_attribution", "z-rule in place of α1β0 in linear layers",
     (lrp, "linear_relevance", _z_rule_linear)),
    ("attnlrp", "CP-LRP: attention held constant",
     (attnlrp.torch, "softmax", lambda s, dim: _ORIGINAL_SOFTMAX(s.detach(), dim=dim))),
    ("attnlrp", "plain gradient through GELU instead of the identity rule",
     (attnlrp, "_identity_rule", lambda fn, x: fn(x))),
    ("attnlrp", "no uniform rule: matrix products not halved",
     (attnlrp, "_halved", lambda x: x)),
    ("attnlrp", "gradient through LayerNorm's standard deviation",
     (attnlrp, "_layer_norm", lambda norm, x: norm(x))),
]  # fmt: skip


@pytest.mark.parametrize(
    "method, wrong, patch", WRONG_RULES, ids=[f"{m}: {w}" for m, w, _ in WRONG_RULES]
)
def test_a_plausible_wrong_rule_fails_the_longhand_check(method, wrong, patch, monkeypatch):
    target, name, replacement = patch
    monkeypatch.setattr(target, name, replacement)
    with pytest.raises(AssertionError):
        assert_pinned(method)


def test_every_method_has_a_wrong_rule_that_its_check_catches():
    assert {method for method, _, _ in WRONG_RULES} == set(PINNED)


def test_maps_lie_on_the_patch_grid_peak_at_one_and_keep_float32_for_float32_models():
    found = explain(random_model(), image())
    assert list(found.maps) == list(METHODS)
    for name, grid in found.maps.items():
        assert grid.shape == (4, 4) and grid.dtype == np.float32
        if name in SIGNED_METHODS:
            assert np.abs(grid).max() == pytest.approx(1.0)
        elif name != "random":
            assert grid.max() == pytest.approx(1.0)


def test_attnlrp_keeps_the_sign_of_the_relevance():
    found = explain(float64_model(), image(), ["attnlrp"], class_index=CLASS)
    grid = found.maps["attnlrp"]
    assert grid.min() < 0 < grid.max()


def test_transformer_attribution_from_a_later_start_layer_leaves_the_first_out():
    model, picture = float64_model(), image()
    f = longhand.forward(model.module, picture.double(), CLASS)
    for start in (0, 1, 2):
        found = explain(model, picture, ["transformer_attribution"], class_index=CLASS,
                        start_layer=start)  # fmt: skip
        np.testing.assert_allclose(
            found.maps["transformer_attribution"],
            longhand.transformer_attribution(model.module, f, CLASS, start),
            rtol=1e-7,
        )
    with pytest.raises(StudioError, match="start layer 3 is out of range 0..2"):
        explain(model, picture, ["transformer_attribution"], start_layer=3)


def test_random_map_follows_its_generator():
    model, picture = random_model(), image()
    first = explain(model, picture, ["random"], rng=np.random.default_rng(7)).maps["random"]
    again = explain(model, picture, ["random"], rng=np.random.default_rng(7)).maps["random"]
    other = explain(model, picture, ["random"], rng=np.random.default_rng(8)).maps["random"]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("method", [m for m in METHODS if m not in ("random", "gradcam")])
def test_every_method_finds_the_one_patch_a_hand_built_vit_looks_at(method):
    found = explain(one_patch_vit(), bright_patch_image(), [method])
    assert found.predicted == 0
    assert int(np.argmax(found.maps[method])) == LOOKED_AT


def test_gradcam_misses_the_one_patch_when_its_heads_mean_gradient_is_negative():
    """The other patches' gradients outweigh the looked-at one's, so Grad-CAM's one head gets a
    negative weight and its positive part is empty: a known weakness of the baseline."""
    f = longhand.forward(one_patch_vit().module, bright_patch_image(), 0)
    assert f.gradients[-1, 0, 0, 1 + LOOKED_AT] > 0 > f.gradients[-1, 0, 0, 1:].mean()
    found = explain(one_patch_vit(), bright_patch_image(), ["gradcam"])
    assert not found.maps["gradcam"].any()


def test_explaining_another_class_uses_its_gradients():
    model, picture = random_model(), image()
    for method in ("generic_attention", "attnlrp"):
        first = explain(model, picture, [method], class_index=0)
        second = explain(model, picture, [method], class_index=1)
        assert first.class_index == 0 and second.class_index == 1
        assert not np.allclose(first.maps[method], second.maps[method])


def test_attnlrp_alone_predicts_like_the_captured_pass():
    model, picture = random_model(), image()
    alone = explain(model, picture, ["attnlrp"])
    together = explain(model, picture, ["rollout", "attnlrp"])
    assert alone.predicted == together.predicted
    np.testing.assert_allclose(alone.probs, together.probs, rtol=1e-5)
    np.testing.assert_allclose(alone.maps["attnlrp"], together.maps["attnlrp"], rtol=1e-5)


def test_unknown_method_and_class_are_one_line_errors():
    model, picture = random_model(), image()
    with pytest.raises(StudioError, match="method 'lime' is unknown; choose from random"):
        explain(model, picture, ["lime"])
    with pytest.raises(StudioError, match="class index 9 is out of range 0..4"):
        explain(model, picture, ["rollout"], class_index=9)


def test_relevance_product_of_zero_layers_passes_the_identity_through():
    np.testing.assert_array_equal(relevance.relevance_product(np.zeros((3, 5, 5))), np.eye(5))
