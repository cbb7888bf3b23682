"""One forward pass captures exactly what the model computed, and views recompute without it."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.conftest import TINY_ARCH, random_model
from tests.engine import longhand
from vit_studio.engine import attribution
from vit_studio.engine.analysis import analyze
from vit_studio.engine.capture import captured_forward
from vit_studio.engine.errors import StudioError
from vit_studio.engine.images import PreparedImage


def prepared(seed=0, size=TINY_ARCH.image_size):
    generator = torch.Generator().manual_seed(seed)
    tensor = torch.randn(3, size, size, generator=generator)
    pixels = np.zeros((size, size, 3), dtype=np.uint8)
    return PreparedImage(pixels=pixels, tensor=tensor)


def block_inputs(module, batch):
    """The residual stream entering each encoder block, recorded by plain hooks."""
    inputs = []
    hooks = [
        block.register_forward_pre_hook(lambda _m, args: inputs.append(args[0]))
        for block in module.encoder.layers
    ]
    with torch.no_grad():
        module(batch)
    for hook in hooks:
        hook.remove()
    return inputs


def manual_attention(block, x):
    """softmax(QKᵀ/√d) computed from the block's own weights, independently of the capture."""
    mha = block.self_attention
    heads, dim = mha.num_heads, mha.embed_dim
    normed = block.ln_1(x)
    q, k, _ = F.linear(normed, mha.in_proj_weight, mha.in_proj_bias).split(dim, dim=-1)
    batch, tokens = x.shape[:2]
    q = q.view(batch, tokens, heads, dim // heads).transpose(1, 2)
    k = k.view(batch, tokens, heads, dim // heads).transpose(1, 2)
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(dim // heads), dim=-1)


def test_logits_equal_an_uncaptured_forward(tiny_model):
    image = prepared()
    result = analyze(tiny_model, image)
    with torch.no_grad():
        plain = tiny_model.module(image.tensor.unsqueeze(0))[0]
    np.testing.assert_allclose(result.logits, plain.numpy(), atol=1e-5)
    np.testing.assert_allclose(result.probs, torch.softmax(plain, -1).numpy(), atol=1e-6)


def test_attentions_are_the_models_own_softmax_qk(tiny_model):
    image = prepared(seed=1)
    result = analyze(tiny_model, image)
    arch = tiny_model.arch
    assert result.attentions.shape == (
        arch.num_layers, arch.num_heads, arch.num_tokens, arch.num_tokens
    )
    batch = image.tensor.unsqueeze(0)
    blocks = tiny_model.module.encoder.layers
    with torch.no_grad():
        for layer, (block, x) in enumerate(
            zip(blocks, block_inputs(tiny_model.module, batch), strict=True)
        ):
            expected = manual_attention(block, x)[0].numpy()
            np.testing.assert_allclose(result.attentions[layer], expected, atol=1e-5)
    np.testing.assert_allclose(result.attentions.sum(-1), 1.0, atol=1e-5)


def test_capture_leaves_the_model_unchanged_afterwards(tiny_model):
    captured_forward(tiny_model.module, prepared().tensor.unsqueeze(0))
    for block in tiny_model.module.encoder.layers:
        assert "forward" not in vars(block.self_attention)
        assert not block._forward_hooks


def test_token_norms_are_the_residual_stream_after_each_block(tiny_model):
    image = prepared(seed=2)
    result = analyze(tiny_model, image)
    outputs = block_inputs(tiny_model.module, image.tensor.unsqueeze(0))[1:]
    assert result.token_norms.shape == (TINY_ARCH.num_layers, TINY_ARCH.num_tokens)
    for layer, x in enumerate(outputs):
        np.testing.assert_allclose(result.token_norms[layer], x[0].norm(dim=-1), rtol=1e-5)
    assert result.patch_token_norms().shape == (TINY_ARCH.num_layers, 4, 4)


def test_the_logit_lens_reads_the_class_token_after_each_block_through_the_head(tiny_model):
    image = prepared(seed=3)
    result = analyze(tiny_model, image)
    module = tiny_model.module
    outputs = block_inputs(module, image.tensor.unsqueeze(0))[1:]
    with torch.no_grad():
        expected = [torch.softmax(module.heads(module.encoder.ln(x[:, 0])), dim=-1)[0]
                    for x in outputs]  # fmt: skip
    assert result.logit_lens.shape == (TINY_ARCH.num_layers, TINY_ARCH.num_classes)
    for layer, probs in enumerate(expected):
        np.testing.assert_allclose(result.logit_lens[layer], probs, atol=1e-6)
    np.testing.assert_allclose(result.logit_lens[-1], result.probs, atol=1e-6)  # the output


def test_class_relevance_pairs_each_layer_with_its_own_gradient(tiny_model):
    image = prepared(seed=3)
    result = analyze(tiny_model, image, gradient_classes=[1, 4])
    assert sorted(result.class_relevance) == [1, 4]
    for class_index in (1, 4):
        batch = image.tensor.unsqueeze(0).requires_grad_(True)
        capture = captured_forward(tiny_model.module, batch)
        for attention in capture.attentions:
            attention.retain_grad()
        capture.logits[0, class_index].backward()
        expected = np.stack([
            attribution.gradient_relevance(a.detach().numpy(), a.grad.numpy())[0]
            for a in capture.attentions
        ])
        np.testing.assert_allclose(result.class_relevance[class_index], expected, atol=1e-6)


def test_grad_cam_and_attnlrp_maps_of_the_classes_asked_for_match_their_longhand_ones():
    model = random_model()
    model.module.double()
    image = prepared(seed=3)
    result = analyze(model, image, gradient_classes=[1, 4], attnlrp_classes=[0, 2])
    assert sorted(result.gradcam) == [1, 4] and sorted(result.attnlrp) == [0, 2]
    module, picture = model.module, image.tensor.double()
    for class_index in (1, 4):
        expected = longhand.gradcam(longhand.forward(module, picture, class_index))
        np.testing.assert_allclose(result.gradcam[class_index], expected, rtol=1e-5, atol=1e-7)
    for class_index in (0, 2):  # the batch of one image per class explains each independently
        expected = longhand.attnlrp(module, picture, class_index)
        np.testing.assert_allclose(result.attnlrp[class_index], expected, rtol=1e-5, atol=1e-7)


def test_gradient_classes_as_a_number_means_the_most_probable_classes(tiny_model):
    result = analyze(tiny_model, prepared(), gradient_classes=2)
    top = [p.index for p in result.top_k(2)]
    assert sorted(result.class_relevance) == sorted(top)


def test_every_control_recomputes_from_cached_arrays_without_the_model(tiny_model):
    result = analyze(tiny_model, prepared(), gradient_classes=3)

    def forbidden(*_args, **_kwargs):
        raise AssertionError("the model ran again")

    tiny_model.module.forward = forbidden
    for fusion in ("mean", "max", "min"):
        for discard in (0.0, 0.5, 0.9):
            for start in range(TINY_ARCH.num_layers):
                assert result.rollout(fusion, discard, start).shape == (4, 4)
    for prediction in result.top_k(3):
        assert result.gradient_rollout(prediction.index, 0.2, 1).shape == (4, 4)
    assert result.patch_attention(layer=2, patch=5, head=1).shape == (4, 4)
    assert result.patch_pos_similarity(5)[1, 1] == pytest.approx(1.0, abs=1e-5)
    assert result.cls_attention.shape == (TINY_ARCH.num_layers, TINY_ARCH.num_heads, 4, 4)


def test_gradient_rollout_for_an_uncached_class_says_what_to_do(tiny_model):
    result = analyze(tiny_model, prepared(), gradient_classes=[0])
    with pytest.raises(StudioError, match="gradient_classes"):
        result.gradient_rollout(3)


def test_rollout_map_is_normalised_to_one(tiny_model):
    result = analyze(tiny_model, prepared())
    assert result.rollout().max() == pytest.approx(1.0)
    assert result.rollout().min() >= 0.0


def test_pos_similarity_and_distance_come_from_the_model(tiny_model):
    result = analyze(tiny_model, prepared())
    pos = tiny_model.module.encoder.pos_embedding[0].detach().numpy()
    np.testing.assert_allclose(
        result.pos_similarity, attribution.pos_embedding_similarity(pos, 4), atol=1e-6
    )
    assert result.mean_attention_distance.shape == (TINY_ARCH.num_layers, TINY_ARCH.num_heads)
    assert np.all(result.mean_attention_distance > 0)


def test_analysis_arrays_are_read_only(tiny_model):
    result = analyze(tiny_model, prepared(), gradient_classes=1)
    for array in (result.attentions, result.probs, result.logits, result.pos_similarity,
                  *result.class_relevance.values()):
        with pytest.raises(ValueError):
            array[(0,) * array.ndim] = 1.0


def test_top_k_names_classes_in_descending_probability(tiny_model):
    result = analyze(tiny_model, prepared())
    top = result.top_k(3)
    assert [p.probability for p in top] == sorted((p.probability for p in top), reverse=True)
    assert top[0].label == tiny_model.meta.class_names[top[0].index]
    assert set(result.timings_ms) == {"forward", "analysis"}


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_analysis_matches_cpu():
    model = random_model(seed=5)
    image = prepared(seed=5)
    on_cpu = analyze(model, image, gradient_classes=2)
    on_gpu = analyze(model.to("cuda"), image, gradient_classes=2)
    np.testing.assert_allclose(on_gpu.logits, on_cpu.logits, atol=1e-4)
    np.testing.assert_allclose(on_gpu.attentions, on_cpu.attentions, atol=1e-4)
    for class_index, relevance in on_cpu.class_relevance.items():
        np.testing.assert_allclose(on_gpu.class_relevance[class_index], relevance, atol=1e-4)
    np.testing.assert_allclose(on_gpu.rollout(), on_cpu.rollout(), atol=1e-4)

