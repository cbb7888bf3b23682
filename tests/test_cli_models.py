"""`vit-studio models`: a table (or JSON) of the ViTs bundled and in the download caches."""

import json

import pytest
import torch
import torchvision

from tests.conftest import random_model
from tests.hub_server import serve_fake_hub, torchvision_entry
from vit_studio.cli import main
from vit_studio.cli.console import Console
from vit_studio.engine import resources
from vit_studio.engine.checkpoints.discovery import default_torch_hub_checkpoints
from vit_studio.engine.hub import catalogue as catalogue_module
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


# --- the catalogue and downloads, from a loopback server only ---------------------------------


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """The fake hub, with its torchvision file in the catalogue as `vit_fake`."""
    for served in serve_fake_hub(tmp_path, monkeypatch):
        ((file, content),) = served.torchvision_files.items()
        entry = torchvision_entry(file, content)
        monkeypatch.setattr(catalogue_module, "CATALOGUE", (*catalogue_module.CATALOGUE, entry))
        served.entry = entry
        yield served


def test_catalogue_lists_every_model_with_size_licence_and_whether_it_is_here(hub, capsys):
    assert main(["models", "--download", "vit_fake"]) == 0
    capsys.readouterr()
    assert main(["models", "--catalogue"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["NAME", "SIZE", "LICENCE", "HERE", "MODEL"]
    assert [row.split()[0] for row in rows] == [e.name for e in catalogue_module.CATALOGUE]
    assert rows[0].split()[:4] == ["vit_b_16", "330", "MiB", "BSD-3-Clause"]
    assert rows[-1].split()[:5] == ["vit_fake", "1", "MiB", "test", "yes"]


def test_catalogue_json_has_sizes_in_bytes_and_the_model_reference(hub, capsys):
    assert main(["models", "--catalogue", "--json"]) == 0
    entries = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert entries["vit_tiny_patch16_224"]["size_bytes"] == 4 * 5_717_416
    assert entries["vit_tiny_patch16_224"]["reference"] == (
        "hf:timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k"
    )
    assert entries["vit_b_16"]["path"] is None


def test_download_says_where_the_model_is_and_how_to_open_it(hub, tmp_path, capsys):
    assert main(["models", "--download", "vit_fake"]) == 0
    out, err = capsys.readouterr()
    path = tmp_path / "torch" / "hub" / "checkpoints" / hub.entry.files[0]
    assert out.splitlines() == [
        f"vit_fake: downloaded and verified: {path}",
        "open it with: vit-studio --model torchvision:vit_fake",
    ]
    assert err.startswith(f"downloading vit_fake (test, 0.9 MiB) into {path}")
    assert main(["models", "--download", "vit_fake"]) == 0
    assert "already downloaded" in capsys.readouterr().out
    assert len(hub.requests) == 1


def test_download_of_a_hub_repo_lands_in_the_hf_cache(hub, tmp_path, capsys):
    assert main(["models", "--download", "hf:fake/vit-tiny", "--json"]) == 0
    downloaded = json.loads(capsys.readouterr().out)
    assert downloaded["path"].startswith(str(tmp_path / "hf" / "hub" / "models--fake--vit-tiny"))
    assert main(["models"]) == 0
    assert "fake/vit-tiny" in capsys.readouterr().out


def test_corrupt_download_is_deleted_and_one_error_line_exits_2(hub, capsys):
    hub.corrupt.add(hub.entry.files[0])
    assert main(["models", "--download", "vit_fake"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("vit-studio: error: vit_fake-")
    assert "does not match its SHA-256" in err[-1] and "deleted" in err[-1]
    assert list(default_torch_hub_checkpoints().iterdir()) == []


def test_no_server_is_one_error_line_exit_2(hub, capsys):
    hub.stop()
    assert main(["models", "--download", "vit_fake"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("vit-studio: error: cannot reach 127.0.0.1:")
    assert "check the internet connection, or set VIT_STUDIO_TORCHVISION_URL" in err[-1]


def test_ctrl_c_keeps_the_part_and_the_same_command_resumes_it(hub, monkeypatch, capsys):
    reports = []

    def interrupted(self, what, done, total):
        reports.append(done)
        if len(reports) == 3:
            raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(Console, "transfer", interrupted)
        assert main(["models", "--download", "vit_fake"]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == (
        "vit-studio: interrupted: the part of vit_fake downloaded so far is kept; run the same "
        "command again to resume"
    )
    assert main(["models", "--download", "vit_fake"]) == 0
    assert hub.ranges() == [f"bytes={reports[-1]}-"]


def test_model_option_opens_a_hub_model_downloading_it_first(hub, photo, capsys):
    assert main(["analyze", str(photo), "--model", "hf:fake/vit-tiny", "--top-k", "1"]) == 0
    out, err = capsys.readouterr()
    assert "downloading fake/vit-tiny (see its model card, 1.9 MiB) into " in err
    assert "photo.png" in out
    asked = len(hub.requests)
    assert main(["analyze", str(photo), "--model", "timm:fake/vit-tiny", "--top-k", "1"]) == 0
    assert len(hub.requests) == asked  # the cached snapshot, no server asked


def test_model_option_with_an_unknown_hub_model_is_one_error_line(hub, photo, capsys):
    assert main(["analyze", str(photo), "--model", "hf:fake/missing"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("vit-studio: error: ") and "hf:fake/missing" in line
