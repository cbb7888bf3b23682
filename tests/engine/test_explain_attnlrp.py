"""AttnLRP's rules one by one against the paper's formulas, conservation through a whole ViT
(everything the rules lose is the softmax rule's, as the paper says), and the pass itself: the
model's logits, images independent. The whole map is pinned to the authors' `lxt` functions
in `test_explain_methods`."""

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import random_model
from vit_studio.engine.explain import attnlrp

GENERATOR = torch.Generator().manual_seed(0)


def randn(*shape):
    return torch.randn(*shape, generator=GENERATOR, dtype=torch.float64)


def relevance_of(fn, *inputs, output_relevance):
    """Gradient × input of each input, seeded with output_relevance / output (so that the
    output's own relevance, output ⊙ seed, is output_relevance; 0 where the output is 0)."""
    inputs = [x.clone().requires_grad_(True) for x in inputs]
    out = fn(*inputs)
    seed = torch.where(out == 0, 0.0, output_relevance / out.detach())
    grads = torch.autograd.grad(out, inputs, grad_outputs=seed)
    return [x.detach() * g for x, g in zip(inputs, grads, strict=True)]


def test_identity_rule_passes_the_relevance_of_gelu_through_unchanged():
    x, relevance = randn(4, 6), randn(4, 6)
    x[0, 0] = 0.0  # GELU(0) = 0: no relevance either side
    relevance[0, 0] = 0.0
    (got,) = relevance_of(
        lambda t: attnlrp._identity_rule(F.gelu, t), x, output_relevance=relevance
    )
    torch.testing.assert_close(got, relevance)


def test_uniform_rule_gives_each_factor_of_a_product_half_of_its_z_rule_share():
    left, right, relevance = randn(2, 5, 3), randn(2, 3, 4), randn(2, 5, 4)
    got_left, got_right = relevance_of(
        lambda a, b: attnlrp._halved(a) @ attnlrp._halved(b), left, right,
        output_relevance=relevance,
    )  # fmt: skip
    share = left[..., :, :, None] * right[..., None, :, :] / (left @ right)[..., :, None, :]
    weighted = share * relevance[..., :, None, :]  # [b, i, k, j]: z_ikj / z_ij · R_ij
    torch.testing.assert_close(got_left, weighted.sum(dim=-1) / 2)
    torch.testing.assert_close(got_right, weighted.sum(dim=-3) / 2)
    torch.testing.assert_close(got_left.sum() + got_right.sum(), relevance.sum())


def test_softmax_rule_is_proposition_3_1():
    scores, relevance = randn(3, 7), randn(3, 7)
    (got,) = relevance_of(lambda s: torch.softmax(s, dim=-1), scores, output_relevance=relevance)
    s = torch.softmax(scores, dim=-1)
    torch.testing.assert_close(got, scores * (relevance - s * relevance.sum(-1, keepdim=True)))


def test_layer_norm_holds_its_deviation_constant_and_conserves_all_but_its_bias():
    norm = torch.nn.LayerNorm(6).double()
    with torch.no_grad():
        norm.weight.copy_(randn(6))
        norm.bias.copy_(randn(6))
    x, relevance = randn(4, 6), randn(4, 6)
    torch.testing.assert_close(attnlrp._layer_norm(norm, x), norm(x))
    (got,) = relevance_of(lambda t: attnlrp._layer_norm(norm, t), x, output_relevance=relevance)
    # Linear in x once the deviation is a constant: the ε-rule through (x − mean) / σ · w.
    sigma = torch.sqrt(x.var(dim=-1, unbiased=False, keepdim=True) + norm.eps)
    jacobian = (torch.eye(6, dtype=torch.float64) - 1 / 6) / sigma[..., None] * norm.weight[:, None]
    seed = relevance / norm(x)
    torch.testing.assert_close(got, x * torch.einsum("nij,nj->ni", jacobian.transpose(1, 2), seed))
    bias_share = (norm.bias * seed).sum()
    torch.testing.assert_close(got.sum() + bias_share, relevance.sum())


def without_additive_terms(model):
    """Every bias, the class token and the position embedding zeroed: nothing can keep
    relevance but the softmax rule."""
    with torch.no_grad():
        for name, parameter in model.module.named_parameters():
            if name.endswith("bias") or name in ("class_token", "encoder.pos_embedding"):
                parameter.zero_()
    return model


def test_everything_the_logit_loses_on_the_way_to_the_pixels_is_lost_in_the_softmax(
    monkeypatch,
):
    module = without_additive_terms(random_model()).module.double()
    softmax, records = torch.softmax, []

    def recording_softmax(scores, dim):
        attention = softmax(scores, dim=dim)
        record = {"scores": scores, "attention": attention}
        scores.register_hook(lambda g: record.__setitem__("scores_gradient", g))
        attention.register_hook(lambda g: record.__setitem__("attention_gradient", g))
        records.append(record)
        return attention

    monkeypatch.setattr(attnlrp.torch, "softmax", recording_softmax)
    images = randn(1, 3, 32, 32)
    result = attnlrp.attnlrp(module, images, torch.tensor([3]))
    lost = sum(
        (r["attention"] * r["attention_gradient"]).sum()
        - (r["scores"] * r["scores_gradient"]).sum()
        for r in records
    )
    assert len(records) == 3 and abs(lost) > 1e-3
    torch.testing.assert_close(
        result.input_relevance.sum() + lost, result.logits[0, 3], rtol=1e-10, atol=1e-12
    )


def test_the_relevance_pass_computes_the_models_own_logits():
    model = random_model()
    images = torch.randn(2, 3, 32, 32, generator=GENERATOR)
    result = attnlrp.attnlrp(model.module, images)
    with torch.no_grad():
        torch.testing.assert_close(result.logits, model.module(images), rtol=1e-5, atol=1e-5)
    assert result.class_indices.tolist() == result.logits.argmax(dim=-1).tolist()


def test_images_of_a_batch_are_explained_independently():
    module = random_model().module.double()
    images = randn(2, 3, 32, 32)
    both = attnlrp.attnlrp(module, images, torch.tensor([1, 3]))
    second = attnlrp.attnlrp(module, images[1:], torch.tensor([3]))
    torch.testing.assert_close(both.input_relevance[1:], second.input_relevance)


def test_patch_relevance_sums_the_relevance_of_every_value_of_a_patch():
    relevance = torch.arange(2 * 3 * 4 * 4, dtype=torch.float64).view(2, 3, 4, 4)
    result = attnlrp.AttnLRPResult(torch.zeros(2, 5), torch.zeros(2), relevance)
    got = result.patch_relevance(2)
    assert got.shape == (2, 2, 2)
    assert got[1, 0, 1] == pytest.approx(float(relevance[1, :, 0:2, 2:4].sum()))
