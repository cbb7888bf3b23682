"""Head ablation: a knocked-out head contributes nothing, and the model is restored exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import TINY_ARCH
from vit_studio.engine.errors import StudioError
from vit_studio.engine.explain.ablation import ablated_probs, heads_knocked_out


def image() -> torch.Tensor:
    return torch.randn(3, TINY_ARCH.image_size, TINY_ARCH.image_size,
                       generator=torch.Generator().manual_seed(5))  # fmt: skip


def test_knocking_out_every_head_of_a_layer_leaves_only_its_projection_bias(tiny_model):
    module = tiny_model.module.eval()
    layer = module.encoder.layers[1]
    with torch.no_grad():
        # Independently: the same forward with that layer's attention branch replaced by the
        # output projection's bias.
        original = layer.self_attention.forward
        bias = layer.self_attention.out_proj.bias

        def only_bias(query, *args, **kwargs):
            return bias.expand_as(query).clone(), None

        layer.self_attention.forward = only_bias
        try:
            expected = torch.softmax(module(image().unsqueeze(0))[0], dim=-1).numpy()
        finally:
            layer.self_attention.forward = original
    every_head = [(1, h) for h in range(TINY_ARCH.num_heads)]
    np.testing.assert_allclose(ablated_probs(tiny_model, image(), every_head), expected, atol=1e-6)


def test_the_model_is_restored_exactly_and_one_head_changes_the_answer(tiny_model):
    before = {k: v.clone() for k, v in tiny_model.module.state_dict().items()}
    with torch.inference_mode():
        plain = torch.softmax(tiny_model.module(image().unsqueeze(0))[0], dim=-1).numpy()
    knocked = ablated_probs(tiny_model, image(), [(0, 1)])
    assert not np.allclose(knocked, plain)
    after = tiny_model.module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_an_unknown_head_is_refused_and_nothing_is_changed(tiny_model):
    weight = tiny_model.module.encoder.layers[0].self_attention.out_proj.weight.clone()
    with pytest.raises(StudioError, match="head 9 is out of range"), heads_knocked_out(
        tiny_model.module, [(0, 0), (0, 9)]
    ):
        pass
    assert torch.equal(tiny_model.module.encoder.layers[0].self_attention.out_proj.weight, weight)
