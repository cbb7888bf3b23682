"""Layer scale (DeiT-III, DINOv2) folded exactly into the projections it scales, so those timm
checkpoints load as plain torchvision ViTs computing what timm computes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from tests.backbones import DINOV2_SIZE, save_timm_folder, timm_deit3, timm_dinov2
from vit_studio.engine.analysis import analyze
from vit_studio.engine.checkpoints import inspect_checkpoint, load_model, timm_format
from vit_studio.engine.checkpoints.common import check_state
from vit_studio.engine.errors import StudioError
from vit_studio.engine.images import PreparedImage

TOLERANCE = 1e-4


def encoder_features(module, images: torch.Tensor) -> torch.Tensor:
    """torchvision's equivalent of timm's `forward_features`: every token after the final norm."""
    tokens = module._process_input(images)
    class_token = module.class_token.expand(tokens.shape[0], -1, -1)
    return module.encoder(torch.cat([class_token, tokens], dim=1))


def timm_block_outputs(model, images: torch.Tensor) -> list[torch.Tensor]:
    x = model.norm_pre(model._pos_embed(model.patch_embed(images)))
    outputs = []
    for block in model.blocks:
        x = block(x)
        outputs.append(x)
    return outputs


def max_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def test_deit3_logits_equal_timms(tmp_path):
    source = timm_deit3()
    folder = save_timm_folder(source, tmp_path / "deit3")
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))

    model = load_model(folder)

    with torch.no_grad():
        assert max_difference(model.module(images), source(images)) <= TOLERANCE
    assert model.arch.num_classes == 5


def test_deit3_hub_config_without_model_args_is_known_by_its_architecture(tmp_path):
    # The Hugging Face hub's timm/deit3_* configs do not record no_embed_class=True.
    source = timm_deit3()
    folder = save_timm_folder(source, tmp_path / "deit3")
    config = json.loads((folder / "config.json").read_text())
    del config["model_args"]
    (folder / "config.json").write_text(json.dumps(config))
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))

    model = load_model(folder, num_heads=2)  # nor does it record the (shrunk) head count

    with torch.no_grad():
        assert max_difference(model.module(images), source(images)) <= TOLERANCE


def test_deit3_class_token_gets_a_zero_position_row(tmp_path):
    folder = save_timm_folder(timm_deit3(), tmp_path / "deit3")
    pos_embedding = load_model(folder).module.encoder.pos_embedding
    assert pos_embedding.shape[1] == 1 + 16
    assert torch.count_nonzero(pos_embedding[0, 0]) == 0


def test_dinov2_backbone_features_and_token_norms_equal_timms(tmp_path):
    source = timm_dinov2()
    folder = save_timm_folder(source, tmp_path / "dinov2")
    images = torch.randn(2, 3, DINOV2_SIZE, DINOV2_SIZE, generator=torch.Generator().manual_seed(3))

    model = load_model(folder)
    analysis = analyze(model, PreparedImage(pixels=None, tensor=images[0]))

    with torch.no_grad():
        features = encoder_features(model.module, images)
        assert max_difference(features, source.forward_features(images)) <= TOLERANCE
        blocks = timm_block_outputs(source, images)
        timm_norms = torch.stack([out[0].norm(dim=-1) for out in blocks])
    assert max_difference(torch.tensor(analysis.token_norms), timm_norms) <= TOLERANCE


def test_dinov2_loads_at_its_native_size_with_its_patch_grid(tmp_path):
    folder = save_timm_folder(timm_dinov2(), tmp_path / "dinov2")
    arch = load_model(folder).arch
    assert (arch.image_size, arch.patch_size, arch.grid_size) == (DINOV2_SIZE, 14, 4)
    assert inspect_checkpoint(folder).arch == arch


def test_dinov2_default_shape_is_the_37_by_37_grid_of_518_px():
    # Shapes only (as inspection reads them): the real ViT-S/14 layout, nothing downloaded.
    with torch.device("meta"):
        state = timm.create_model("vit_small_patch14_dinov2", pretrained=False).state_dict()
    converted = timm_format.convert(state, Path("dinov2.safetensors"), name="dinov2")
    arch = converted.arch
    assert (arch.image_size, arch.patch_size, arch.grid_size, arch.num_heads) == (518, 14, 37, 6)
    assert arch.num_classes == 0
    check_state(converted.state, arch, Path("dinov2.safetensors"), converted.format)


def test_legacy_gamma_names_fold_like_timms_ls_names(tmp_path):
    source = timm_deit3()
    state = {
        name.replace(".ls1.gamma", ".gamma_1").replace(".ls2.gamma", ".gamma_2"): tensor
        for name, tensor in source.state_dict().items()
    }
    assert "blocks.0.gamma_1" in state
    folder = save_timm_folder(source, tmp_path / "deit3")
    save_file(state, folder / "model.safetensors")
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))

    with torch.no_grad():
        assert max_difference(load_model(folder).module(images), source(images)) <= TOLERANCE


def test_dinov2_mask_token_of_the_original_checkpoints_is_dropped(tmp_path):
    source = timm_dinov2()
    folder = save_timm_folder(source, tmp_path / "dinov2")
    state = source.state_dict() | {"mask_token": torch.zeros(1, 32)}
    save_file(state, folder / "model.safetensors")
    assert "mask_token" not in load_model(folder).module.state_dict()


def test_register_tokens_are_refused_with_what_to_pick_instead(tmp_path):
    source = timm_dinov2(reg_tokens=4, no_embed_class=True)
    folder = save_timm_folder(source, tmp_path / "dinov2-reg")

    with pytest.raises(StudioError) as caught:
        load_model(folder)

    message = str(caught.value)
    assert "register tokens ('reg_token')" in message
    assert "without registers" in message
    assert "\n" not in message
