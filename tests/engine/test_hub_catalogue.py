"""The download catalogue and the hub references `--model` takes: what they name, offline."""

import pytest
import timm
import torchvision

from vit_studio.engine.errors import StudioError
from vit_studio.engine.hub import (
    HUGGING_FACE,
    TORCHVISION,
    available_models,
    find_entry,
    parse_reference,
)
from vit_studio.engine.hub.catalogue import UNKNOWN_SIZE

TORCHVISION_WEIGHTS = {
    "vit_b_16": torchvision.models.ViT_B_16_Weights.IMAGENET1K_V1,
    "vit_b_32": torchvision.models.ViT_B_32_Weights.IMAGENET1K_V1,
    "vit_l_16": torchvision.models.ViT_L_16_Weights.IMAGENET1K_V1,
}


def test_torchvision_entries_name_torchvisions_own_files_and_sizes():
    for entry in (e for e in available_models() if e.source == TORCHVISION):
        weights = TORCHVISION_WEIGHTS[entry.name]
        assert entry.files == (weights.url.rsplit("/", 1)[1],)
        assert abs(entry.size_bytes - weights.meta["_file_size"] * 2**20) < 1024


def test_timm_entries_are_timms_pretrained_repos_with_their_licence():
    for entry in (e for e in available_models() if e.repo_id.startswith("timm/")):
        config = timm.models.get_pretrained_cfg(entry.repo_id.removeprefix("timm/"))
        assert config.hf_hub_id == entry.repo_id
        assert config.license.lower() == entry.licence.lower()
        assert entry.files == ("config.json", "model.safetensors")


def test_the_catalogue_has_the_models_the_issue_asks_for():
    repos = {entry.repo_id for entry in available_models() if entry.source == HUGGING_FACE}
    assert {"timm/deit3_small_patch16_224.fb_in1k", "timm/vit_small_patch14_dinov2.lvd142m",
            "google/vit-base-patch16-224"} <= repos  # fmt: skip
    torchvision_names = {e.name for e in available_models() if e.source == TORCHVISION}
    assert torchvision_names == set(TORCHVISION_WEIGHTS)
    assert all(entry.size_bytes > 0 and entry.licence for entry in available_models())


def test_entries_are_found_by_name_or_by_repo_id():
    assert find_entry("vit_b_16").files == ("vit_b_16-c867db91.pth",)
    by_repo = find_entry("timm/vit_small_patch16_224.augreg_in21k_ft_in1k")
    assert by_repo is find_entry("vit_small_patch16_224")
    assert find_entry("vit_small_patch16_224.augreg_in21k_ft_in1k") is by_repo


def test_an_unknown_name_says_what_the_catalogue_has():
    with pytest.raises(StudioError, match="not in the catalogue; choose one of vit_b_16, "):
        find_entry("vit_huge")


def test_hf_reference_names_a_repo_and_an_optional_revision():
    entry = parse_reference("hf:someone/their-vit@v2")
    assert (entry.repo_id, entry.revision) == ("someone/their-vit", "v2")
    assert entry.source == HUGGING_FACE
    assert entry.files == ("config.json", "model.safetensors")
    assert entry.size_bytes == UNKNOWN_SIZE
    assert entry.reference == "hf:someone/their-vit@v2"


def test_hf_reference_to_a_catalogue_repo_is_its_entry():
    assert parse_reference("hf:google/vit-base-patch16-224") is find_entry(
        "google/vit-base-patch16-224"
    )


def test_timm_reference_is_the_timm_org_and_a_catalogue_name_gets_its_pretrained_tag():
    assert parse_reference("timm:vit_tiny_patch16_224").repo_id == (
        "timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k"
    )
    assert parse_reference("timm:eva02_tiny_patch14_224.mim_in22k").repo_id == (
        "timm/eva02_tiny_patch14_224.mim_in22k"
    )


def test_torchvision_reference_names_a_catalogue_entry():
    assert parse_reference("torchvision:vit_l_16") is find_entry("vit_l_16")
    with pytest.raises(StudioError, match="choose one of vit_b_16, vit_b_32, vit_l_16"):
        parse_reference("torchvision:resnet50")


def test_paths_are_not_references_even_when_they_look_like_one(tmp_path, monkeypatch):
    assert parse_reference("models/vit.safetensors") is None
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hf:odd-name.pth").write_bytes(b"")
    assert parse_reference("hf:odd-name.pth") is None


def test_a_malformed_reference_is_one_line_with_an_example():
    with pytest.raises(StudioError, match="write hf:ORG/NAME .* e.g. hf:google/vit-base-patch16"):
        parse_reference("hf:a/b/c")
