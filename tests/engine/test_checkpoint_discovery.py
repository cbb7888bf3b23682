"""Finding ViTs already on this machine: bundled models, torch hub cache, Hugging Face cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from vit_studio.engine.checkpoints import inspect_checkpoint
from vit_studio.engine.checkpoints.discovery import (
    BUNDLED,
    HF_HUB,
    TORCH_HUB,
    default_hf_hub_cache,
    find_local_models,
)
from vit_studio.engine.model import save_model

VIT_SHAPE = dict(
    image_size=32, patch_size=8, num_layers=1, num_heads=2, hidden_dim=128, mlp_dim=128,
    num_classes=3,
)


def torchvision_state() -> dict[str, torch.Tensor]:
    # A published width (ViT-Ti's): a state dict does not record its head count.
    shape = VIT_SHAPE | {"hidden_dim": 192, "num_heads": 3}
    return torchvision.models.VisionTransformer(**shape).state_dict()


def hf_vit_tensors() -> dict[str, torch.Tensor]:
    """A transformers ViT's on-disk tensors, renamed from the torchvision layout."""
    tv = torchvision_state()
    layer = "encoder.layers.encoder_layer_0."
    q, k, v = tv[layer + "self_attention.in_proj_weight"].chunk(3)
    qb, kb, vb = tv[layer + "self_attention.in_proj_bias"].chunk(3)
    hf = "vit.encoder.layer.0."
    return {
        "vit.embeddings.cls_token": tv["class_token"],
        "vit.embeddings.position_embeddings": tv["encoder.pos_embedding"],
        "vit.embeddings.patch_embeddings.projection.weight": tv["conv_proj.weight"],
        "vit.embeddings.patch_embeddings.projection.bias": tv["conv_proj.bias"],
        hf + "attention.attention.query.weight": q.clone(),
        hf + "attention.attention.query.bias": qb.clone(),
        hf + "attention.attention.key.weight": k.clone(),
        hf + "attention.attention.key.bias": kb.clone(),
        hf + "attention.attention.value.weight": v.clone(),
        hf + "attention.attention.value.bias": vb.clone(),
        hf + "attention.output.dense.weight": tv[layer + "self_attention.out_proj.weight"],
        hf + "attention.output.dense.bias": tv[layer + "self_attention.out_proj.bias"],
        hf + "layernorm_before.weight": tv[layer + "ln_1.weight"],
        hf + "layernorm_before.bias": tv[layer + "ln_1.bias"],
        hf + "layernorm_after.weight": tv[layer + "ln_2.weight"],
        hf + "layernorm_after.bias": tv[layer + "ln_2.bias"],
        hf + "intermediate.dense.weight": tv[layer + "mlp.0.weight"],
        hf + "intermediate.dense.bias": tv[layer + "mlp.0.bias"],
        hf + "output.dense.weight": tv[layer + "mlp.3.weight"],
        hf + "output.dense.bias": tv[layer + "mlp.3.bias"],
        "vit.layernorm.weight": tv["encoder.ln.weight"],
        "vit.layernorm.bias": tv["encoder.ln.bias"],
        "classifier.weight": tv["heads.head.weight"],
        "classifier.bias": tv["heads.head.bias"],
    }


def hf_snapshot(cache: Path, repo: str, revision: str, files: dict[str, object]) -> Path:
    """A hub cache entry as huggingface_hub lays it out, with refs/main naming `revision`."""
    repo_dir = cache / ("models--" + repo.replace("/", "--"))
    snapshot = repo_dir / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(revision)
    for name, content in files.items():
        if isinstance(content, dict) and all(isinstance(t, torch.Tensor) for t in content.values()):
            save_file(content, snapshot / name)
        else:
            (snapshot / name).write_text(json.dumps(content))
    return snapshot


HF_VIT_CONFIG = {
    "model_type": "vit", "architectures": ["ViTForImageClassification"], "image_size": 32,
    "patch_size": 8, "hidden_size": 128, "num_attention_heads": 2, "num_hidden_layers": 1,
    "intermediate_size": 128, "id2label": {"0": "a", "1": "b", "2": "c"},
}


@pytest.fixture
def caches(tmp_path, tiny_model):
    """Bundled model, torch hub checkpoints and HF cache, each with ViTs and other things."""
    bundled = [save_model(tiny_model, tmp_path / "bundled" / "tiny.safetensors")]

    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(torchvision_state(), hub / "vit_tiny-0123abcd.pth")
    torch.save({"conv1.weight": torch.ones(4, 3, 3, 3)}, hub / "resnet-89abcdef.pth")
    (hub / "notes.txt").write_text("not a checkpoint")
    # Old-format pickles would have to be read in full; a scan leaves them alone.
    torch.save(torchvision_state(), hub / "legacy_vit.pth", _use_new_zipfile_serialization=False)

    hf = tmp_path / "hf" / "hub"
    hf_snapshot(hf, "acme/vit-tiny", "abc123", {
        "config.json": HF_VIT_CONFIG, "model.safetensors": hf_vit_tensors(),
    })
    (hf / "models--acme--vit-tiny" / "snapshots" / "stale000").mkdir()
    hf_snapshot(hf, "acme/bert", "def456", {"config.json": {"model_type": "bert"}})
    hf_snapshot(hf, "timm/vit_tiny.test", "0f0f0f", {
        "config.json": {"architecture": "vit_tiny", "model_args": {"num_heads": 2},
                        "pretrained_cfg": {"crop_pct": 1.0}},
        "model.safetensors": {
            "cls_token": torch.zeros(1, 1, 128), "pos_embed": torch.zeros(1, 17, 128),
            "patch_embed.proj.weight": torch.zeros(128, 3, 8, 8),
            "blocks.0.attn.qkv.weight": torch.zeros(384, 128),
            "blocks.0.attn.proj.weight": torch.zeros(128, 128),
            "blocks.0.mlp.fc1.weight": torch.zeros(128, 128),
            "blocks.0.mlp.fc2.weight": torch.zeros(128, 128),
            "blocks.0.norm1.weight": torch.ones(128), "blocks.0.norm2.weight": torch.ones(128),
            "norm.weight": torch.ones(128), "head.weight": torch.zeros(3, 128),
        },
    })
    hf_snapshot(hf, "acme/loose-weights", "777777", {"vit.safetensors": torchvision_state()})
    return {"bundled": bundled, "torch_hub_checkpoints": hub, "hf_hub_cache": hf}


def test_finds_bundled_and_cached_vits_and_skips_everything_else(caches, tiny_model):
    found = find_local_models(**caches)

    summary = [(m.source, m.format, m.name) for m in found]
    assert summary == [
        (BUNDLED, "vit_studio", "tiny"),
        (TORCH_HUB, "torchvision", "vit_tiny-0123abcd"),
        (HF_HUB, "torchvision", "acme/loose-weights"),
        (HF_HUB, "huggingface", "acme/vit-tiny"),
        (HF_HUB, "timm", "timm/vit_tiny.test"),
    ]
    assert found[0].arch == tiny_model.arch
    assert found[1].arch.num_heads == 3
    assert found[3].path.name == "abc123"  # the revision refs/main names, not the stale one
    assert found[3].arch.num_classes == 3
    assert inspect_checkpoint(found[3].path).name == "acme/vit-tiny"  # not the revision hash


def test_missing_locations_find_nothing(tmp_path):
    found = find_local_models(
        bundled=[], torch_hub_checkpoints=tmp_path / "absent", hf_hub_cache=tmp_path / "absent"
    )
    assert found == []


def test_hf_cache_location_follows_huggingface_hub_variables(monkeypatch, tmp_path):
    for variable in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_hf_hub_cache() == tmp_path / ".cache" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    assert default_hf_hub_cache() == tmp_path / "hf-home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    assert default_hf_hub_cache() == tmp_path / "hub-cache"
