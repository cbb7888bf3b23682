"""`vit-studio models`: a table (or JSON) of the ViTs bundled and in the download caches."""

import json

import pytest
import torch
import torchvision

from tests.conftest import random_model
from vit_studio.cli import main
from vit_studio.engine import resources
from vit_studio.engine.model import save_model


@pytest.fixture
def machine(tmp_path, monkeypatch):
    """Bundled models and caches that live in tmp_path, with one model in each of two places."""
    bundled = tmp_path / "resources" / "models"
    save_model(random_model(name="bundled-tiny"), bundled / "tiny.safetensors")
    monkeypatch.setattr(resources, "BUNDLED_MODELS_DIR", bundled)

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    vit = torchvision.models.VisionTransformer(  # ViT-Ti's width: its head count is known
        image_size=32, patch_size=8, num_layers=1, num_heads=3, hidden_dim=192, mlp_dim=128,
        num_classes=4,
    )
    torch.save(vit.state_dict(), checkpoints / "vit_mini-1234.pth")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    return tmp_path


def test_table_lists_name_format_architecture_and_path(machine, capsys):
    assert main(["models"]) == 0
    header, bundled, hub = capsys.readouterr().out.splitlines()
    assert header.split() == ["NAME", "FORMAT", "ARCHITECTURE", "PATH"]
    assert bundled.split()[:2] == ["bundled-tiny", "vit_studio"]
    assert "ViT 3L 4H d32 p8 32px 5cls" in bundled
    assert hub.split()[:2] == ["vit_mini-1234", "torchvision"]
    assert hub.endswith(str(machine / "torch" / "hub" / "checkpoints" / "vit_mini-1234.pth"))


def test_json_output(machine, capsys):
    assert main(["models", "--json"]) == 0
    models = json.loads(capsys.readouterr().out)
    assert [(m["name"], m["source"]) for m in models] == [
        ("bundled-tiny", "bundled"),
        ("vit_mini-1234", "torch hub cache"),
    ]
    assert models[1]["arch"]["num_heads"] == 3


def test_nothing_found_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(resources, "BUNDLED_MODELS_DIR", tmp_path / "none")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("No ViT models found")
    assert str(tmp_path / "hf") in out
