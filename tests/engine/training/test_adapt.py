"""Fine-tuning preparation: new head, resized position embeddings, frozen parameters."""

import pytest
import torch

from tests.conftest import TINY_ARCH, random_model
from tests.engine.training.helpers import (
    CLASSES,
    colour_images,
    config,
)
from vit_studio.engine.training import (
    interpolate_pos_embedding,
    prepare_finetune,
    train,
)


def test_prepare_finetune_replaces_head_and_resizes_position_embeddings():
    base = random_model()  # 32px, patch 8: a 4x4 grid, 5 classes
    before = {k: v.clone() for k, v in base.module.state_dict().items()}
    model = prepare_finetune(base, CLASSES, image_size=48)
    assert model.arch.image_size == 48 and model.arch.grid_size == 6
    assert model.arch.num_classes == 3 and model.meta.class_names == CLASSES
    assert model.meta.preprocessing.crop_size == 48
    assert model.meta.preprocessing.resize_size == round(base.meta.preprocessing.resize_size * 1.5)
    pos = model.module.encoder.pos_embedding
    assert pos.shape == (1, 37, TINY_ARCH.hidden_dim)
    assert torch.equal(pos[:, 0], base.module.encoder.pos_embedding[:, 0])  # class token kept
    assert not model.module.heads.head.weight.any()  # a zero head: uniform first guesses
    with torch.no_grad():
        assert model.module(torch.randn(2, 3, 48, 48)).shape == (2, 3)
    assert all(torch.equal(before[k], v) for k, v in base.module.state_dict().items())


def test_position_embedding_interpolation_keeps_smooth_patterns():
    ramp = torch.linspace(0, 1, 4).view(1, 4).expand(4, 4)  # left to right
    pos = torch.cat([torch.full((1, 1), 7.0), ramp.reshape(16, 1)]).view(1, 17, 1)
    resized = interpolate_pos_embedding(pos, 8)
    assert resized.shape == (1, 65, 1) and resized[0, 0, 0] == 7.0
    grid = resized[0, 1:, 0].view(8, 8)
    assert (grid[:, 1:] >= grid[:, :-1] - 1e-6).all()  # still increasing left to right
    torch.testing.assert_close(grid[0], grid[5])  # still constant top to bottom


@pytest.mark.parametrize(
    ("freeze", "trained"),
    [("backbone", {"heads"}), ("1", {"heads", "encoder.ln", "encoder_layer_2"})],
)
def test_frozen_parameters_do_not_change_in_training(freeze, trained):
    model = prepare_finetune(random_model(), CLASSES)
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    train(model, colour_images(32, size=32), None, config(epochs=1, freeze=freeze))
    for name, value in model.module.state_dict().items():
        changed = not torch.equal(before[name], value)
        assert changed == any(part in name for part in trained), name
