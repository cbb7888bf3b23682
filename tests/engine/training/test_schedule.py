"""The schedule's numbers: layer-wise learning rates, weight-decay groups, and the linear-probe
head a fine-tune starts from."""

import pytest
import torch

from tests.engine.training.helpers import colour_images, config, fresh
from vit_studio.engine.augment import normalize_images
from vit_studio.engine.errors import StudioError
from vit_studio.engine.training import train
from vit_studio.engine.training.baseline import fit_logistic_regression
from vit_studio.engine.training.schedule import param_groups
from vit_studio.engine.training.source import BatchSource
from vit_studio.engine.training.start import head_inputs


def test_each_block_learns_at_the_decay_of_the_one_above_it():
    module = fresh().module  # 2 blocks
    groups = param_groups(module, weight_decay=0.05, layer_decay=0.5)
    scale = {id(p): g["lr_scale"] for g in groups for p in g["params"]}
    named = dict(module.named_parameters())
    assert scale[id(named["heads.head.weight"])] == 1.0
    assert scale[id(named["encoder.ln.weight"])] == 1.0
    assert scale[id(named["encoder.layers.encoder_layer_1.mlp.0.weight"])] == 0.5
    assert scale[id(named["encoder.layers.encoder_layer_0.mlp.0.weight"])] == 0.25
    assert scale[id(named["conv_proj.weight"])] == scale[id(named["class_token"])] == 0.125
    decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    assert id(named["conv_proj.weight"]) in decayed and id(named["conv_proj.bias"]) not in decayed
    assert sum(len(g["params"]) for g in groups) == len(named)


def test_frozen_parameters_are_in_no_group_and_no_decay_means_one_rate():
    module = fresh().module
    module.conv_proj.weight.requires_grad_(False)
    groups = param_groups(module, weight_decay=0.05)
    assert {g["lr_scale"] for g in groups} == {1.0}
    kept = {id(p) for g in groups for p in g["params"]}
    assert id(module.conv_proj.weight) not in kept


def test_a_probed_head_is_the_logistic_regression_of_the_frozen_features():
    model, images = fresh(), colour_images(32)
    pre = model.meta.preprocessing
    source = BatchSource(images, torch.device("cpu"))

    def prepare(batch):
        return normalize_images(batch, pre.mean, pre.std, model.arch.image_size)

    features = head_inputs(model.module, source, prepare, 16)
    expected, bias = fit_logistic_regression(features, images.labels, 3, l2=1e-2)
    # lr 0: training changes nothing, so what is saved is the head the probe fitted.
    train(model, images, None, config(epochs=1, lr=0.0, probe_head=True))
    head = model.module.heads.head
    torch.testing.assert_close(head.weight, expected, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(head.bias, bias, rtol=1e-4, atol=1e-5)


def test_layer_decay_must_be_a_fraction():
    with pytest.raises(StudioError, match="layer decay"):
        config(layer_decay=0.0)
