"""The model the app ships: present, small enough, and a stock torchvision ViT."""

import json

import pytest
import safetensors
import safetensors.torch
import torch
import torchvision

from vit_studio.engine.checkpoints import load_model
from vit_studio.engine.resources import default_model_path

CIFAR10 = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


@pytest.fixture(scope="module")
def path():
    found = default_model_path()
    assert found is not None and found.is_file()
    return found


def test_it_is_under_25_mb_and_has_its_card_and_history(path):
    assert path.stat().st_size <= 25 * 2**20
    assert (path.parent / "MODEL_CARD.md").is_file()
    assert (path.parent / "vit_cifar10.metrics.jsonl").is_file()


def test_it_loads_into_stock_torchvision_with_the_same_logits(path):
    meta = json.loads(safetensors.safe_open(str(path), "pt").metadata()["vit_studio"])
    stock = torchvision.models.VisionTransformer(**meta["arch"])
    stock.load_state_dict(safetensors.torch.load_file(str(path)), strict=True)
    ours = load_model(path)
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        torch.testing.assert_close(stock.eval()(images), ours.module.eval()(images))


def test_it_knows_the_cifar10_classes_and_how_it_was_made(path):
    model = load_model(path)
    assert model.meta.class_names == CIFAR10
    assert model.arch.image_size == 32
    assert model.meta.provenance["command"].startswith("vit-studio train ")
    assert model.meta.provenance["training"]["val_acc"] >= 0.85
