"""Every attribution map against a longhand computation on tiny models, and on a ViT that looks
at one patch."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.conftest import random_model
from tests.engine.one_patch_vit import LOOKED_AT, bright_patch_image, one_patch_vit
from vit_studio.engine.errors import StudioError
from vit_studio.engine.explain import relevance
from vit_studio.engine.explain.methods import METHODS, explain


def longhand_attentions_and_gradients(model, image, class_index):
    """The torchvision forward written out op by op, keeping every attention map and its
    gradient with respect to the logit of `class_index` (independent of engine.capture)."""
    module = model.module.eval()
    x = module._process_input(image[None])
    x = torch.cat([module.class_token.expand(1, -1, -1), x], dim=1) + module.encoder.pos_embedding
    attentions = []
    for block in module.encoder.layers:
        mha = block.self_attention
        heads, dim = mha.num_heads, x.shape[-1]
        q, k, v = F.linear(block.ln_1(x), mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (t.view(1, -1, heads, dim // heads).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(dim // heads)
        attention = scores.softmax(dim=-1)
        attention.retain_grad()
        attentions.append(attention)
        mixed = (attention @ v).transpose(1, 2).reshape(1, -1, dim)
        x = x + mha.out_proj(mixed)
        x = x + block.mlp(block.ln_2(x))
    logits = module.heads(module.encoder.ln(x)[:, 0])
    logits[0, class_index].backward()
    grads = np.stack([a.grad[0].numpy() for a in attentions])
    return np.stack([a[0].detach().numpy() for a in attentions]), grads


def peak_one(row):
    return row / row.max()


@pytest.fixture
def tiny():
    model = random_model()
    image = torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(1))
    found = explain(model, image)
    attentions, grads = longhand_attentions_and_gradients(model, image, found.predicted)
    return found, attentions, grads


def test_generic_attention_is_the_sum_rule_R_plus_mean_positive_grad_times_attention(tiny):
    found, attentions, grads = tiny
    n = attentions.shape[-1]
    expected = np.eye(n)
    for layer in range(len(attentions)):
        fused = np.clip(grads[layer] * attentions[layer], 0, None).mean(axis=0)
        expected = expected + fused @ expected
    np.testing.assert_allclose(
        found.maps["generic_attention"].ravel(), peak_one(expected[0, 1:]), rtol=1e-4, atol=1e-6
    )


def test_gradient_rollout_renormalises_rows_and_generic_attention_does_not(tiny):
    found, attentions, grads = tiny
    n = attentions.shape[-1]
    expected = np.eye(n)
    for layer in range(len(attentions)):
        mixing = np.clip(grads[layer] * attentions[layer], 0, None).mean(axis=0) + np.eye(n)
        expected = (mixing / mixing.sum(axis=1, keepdims=True)) @ expected
    np.testing.assert_allclose(
        found.maps["gradient_rollout"].ravel(), peak_one(expected[0, 1:]), rtol=1e-4, atol=1e-6
    )
    assert not np.allclose(found.maps["gradient_rollout"], found.maps["generic_attention"])


def test_raw_attention_is_the_last_layers_class_token_row_mean_of_heads(tiny):
    found, attentions, _ = tiny
    np.testing.assert_allclose(
        found.maps["raw_attention"].ravel(),
        peak_one(attentions[-1, :, 0, 1:].mean(axis=0)),
        rtol=1e-5,
    )


def test_every_map_lies_on_the_patch_grid_and_all_but_random_peak_at_one(tiny):
    found, _, _ = tiny
    assert list(found.maps) == list(METHODS)
    for name, grid in found.maps.items():
        assert grid.shape == (4, 4) and grid.dtype == np.float32
        if name != "random":
            assert grid.max() == pytest.approx(1.0)


def test_random_map_follows_its_generator():
    model, image = random_model(), torch.randn(3, 32, 32)
    first = explain(model, image, ["random"], rng=np.random.default_rng(7)).maps["random"]
    again = explain(model, image, ["random"], rng=np.random.default_rng(7)).maps["random"]
    other = explain(model, image, ["random"], rng=np.random.default_rng(8)).maps["random"]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("method", [m for m in METHODS if m != "random"])
def test_every_method_finds_the_one_patch_a_hand_built_vit_looks_at(method):
    found = explain(one_patch_vit(), bright_patch_image(), [method])
    assert found.predicted == 0
    assert int(np.argmax(found.maps[method])) == LOOKED_AT


def test_explaining_another_class_uses_its_gradients():
    model, image = random_model(), torch.randn(3, 32, 32)
    first = explain(model, image, ["generic_attention"], class_index=0)
    second = explain(model, image, ["generic_attention"], class_index=1)
    assert first.class_index == 0 and second.class_index == 1
    assert not np.allclose(first.maps["generic_attention"], second.maps["generic_attention"])


def test_unknown_method_and_class_are_one_line_errors():
    model, image = random_model(), torch.randn(3, 32, 32)
    with pytest.raises(StudioError, match="method 'gradcam' is unknown; choose from random"):
        explain(model, image, ["gradcam"])
    with pytest.raises(StudioError, match="class index 9 is out of range 0..4"):
        explain(model, image, ["rollout"], class_index=9)


def test_relevance_product_of_zero_layers_passes_the_identity_through():
    np.testing.assert_array_equal(relevance.relevance_product(np.zeros((3, 5, 5))), np.eye(5))
