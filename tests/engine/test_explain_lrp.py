"""LRP rules of Chefer et al. (CVPR 2021) against longhand formulas and autograd, and relevance
conservation through a whole stock torchvision ViT. The whole transformer-attribution map is
pinned to a longhand computation in `test_explain_methods`."""

import pytest
import torch

from tests.conftest import random_model
from vit_studio.engine.capture import captured_forward
from vit_studio.engine.explain import lrp


def gradient_times_input(output_fn, inputs, relevance):
    """The z-rule by autograd: x ⊙ ∂(Σ (R / z) · z)/∂x with R / z held constant."""
    inputs = [x.clone().requires_grad_(True) for x in inputs]
    z = output_fn(*inputs)
    (z * (relevance / z).detach()).sum().backward()
    return [x * x.grad for x in inputs]


def test_linear_rule_on_positive_inputs_and_weights_is_gradient_times_input_and_conserves():
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(2, 5, 6, generator=generator) + 0.1
    weight = torch.rand(4, 6, generator=generator) + 0.1
    relevance = torch.randn(2, 5, 4, generator=generator)
    got = lrp.linear_relevance(x, weight, relevance)
    (expected,) = gradient_times_input(lambda t: t @ weight.T, [x], relevance)
    torch.testing.assert_close(got, expected.detach())
    torch.testing.assert_close(got.sum(dim=-1), relevance.sum(dim=-1))


def test_linear_rule_alpha1_beta0_shares_output_relevance_by_positive_contributions_only():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(3, 6, generator=generator, dtype=torch.float64)
    weight = torch.randn(4, 6, generator=generator, dtype=torch.float64)
    relevance = torch.rand(3, 4, generator=generator, dtype=torch.float64)
    contributions = (x[:, None, :] * weight[None, :, :]).clamp(min=0)  # [sample, out, in]
    expected = (contributions / contributions.sum(-1, keepdim=True) * relevance[..., None]).sum(1)
    torch.testing.assert_close(lrp.linear_relevance(x, weight, relevance), expected)
    torch.testing.assert_close(expected.sum(-1), relevance.sum(-1))


def test_matmul_rule_is_half_of_gradient_times_input_for_each_factor():
    generator = torch.Generator().manual_seed(2)
    left = torch.rand(2, 3, 5, 4, generator=generator) + 0.1
    right = torch.rand(2, 3, 4, 6, generator=generator) + 0.1
    relevance = torch.randn(2, 3, 5, 6, generator=generator)
    got_left, got_right = lrp.matmul_relevance(left, right, relevance)
    expected_left, expected_right = gradient_times_input(torch.matmul, [left, right], relevance)
    torch.testing.assert_close(got_left, expected_left.detach() / 2)
    torch.testing.assert_close(got_right, expected_right.detach() / 2)
    torch.testing.assert_close(got_left.sum() + got_right.sum(), relevance.sum())


def test_add_rule_conserves_each_images_total_and_shares_it_by_each_branchs_magnitude():
    generator = torch.Generator().manual_seed(3)
    a = torch.randn(2, 5, 4, generator=generator, dtype=torch.float64)
    b = torch.randn(2, 5, 4, generator=generator, dtype=torch.float64) * 3
    relevance = torch.randn(2, 5, 4, generator=generator, dtype=torch.float64)
    got_a, got_b = lrp.add_relevance(a, b, relevance)
    for image in range(2):
        z_a = (a[image] * relevance[image] / (a[image] + b[image])).sum()
        z_b = (b[image] * relevance[image] / (a[image] + b[image])).sum()
        total = relevance[image].sum()
        share_a = z_a.abs() / (z_a.abs() + z_b.abs())
        torch.testing.assert_close(got_a[image].sum(), share_a * total)
        torch.testing.assert_close(got_a[image].sum() + got_b[image].sum(), total)


def recorded_block_inputs(model, images):
    inputs = []
    hooks = [
        block.register_forward_pre_hook(lambda _m, args: inputs.append(args[0].detach()))
        for block in model.module.encoder.layers
    ]
    try:
        capture = captured_forward(model.module.eval(), images)
    finally:
        for hook in hooks:
            hook.remove()
    return inputs, capture


def test_recomputed_blocks_match_the_forward_pass_they_explain():
    model = random_model()
    images = torch.randn(2, 3, 32, 32)
    inputs, capture = recorded_block_inputs(model, images)
    for block, x, attention, output in zip(
        model.module.encoder.layers, inputs, capture.attentions, capture.block_outputs, strict=True
    ):
        act = lrp.block_activations(block, x)
        torch.testing.assert_close(act.attention, attention.detach())
        torch.testing.assert_close(act.middle + act.mlp_out, output.detach())


def test_relevance_of_the_class_is_conserved_through_every_layer():
    model = random_model()
    images = torch.randn(2, 3, 32, 32)
    inputs, _ = recorded_block_inputs(model, images)
    found = lrp.propagate(model.module, inputs, torch.tensor([1, 3]))
    for tokens in found.tokens:
        torch.testing.assert_close(tokens.sum(dim=(1, 2)), torch.ones(2), atol=1e-4, rtol=0)
    assert [r.shape for r in found.attention] == [(2, 4, 17, 17)] * 3


def test_images_of_a_batch_are_propagated_independently():
    model = random_model()
    images = torch.randn(2, 3, 32, 32)
    inputs, _ = recorded_block_inputs(model, images)
    both = lrp.propagate(model.module, inputs, torch.tensor([1, 3]))
    second = lrp.propagate(model.module, [x[1:] for x in inputs], torch.tensor([3]))
    for together, alone in zip(both.attention, second.attention, strict=True):
        torch.testing.assert_close(together[1:], alone)


def test_safe_divide_gives_zero_for_zero_denominators_and_nothing_infinite():
    got = lrp.safe_divide(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.0, 2.0, -1e-12]))
    assert got[0] == 0.0 and got[1] == pytest.approx(1.0) and torch.isfinite(got).all()
