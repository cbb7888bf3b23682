"""Opening foreign ViT checkpoints: detected by content, converted exactly, refused by name.

Parity tests build small random models with torchvision, timm and transformers, save them the
way each framework does, load them with ViT Studio and compare logits with the framework's own
forward pass on the same input. Every parameter is perturbed first so that a swapped or
mis-split tensor cannot hide behind identical initial values.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
from pathlib import Path

import pytest
import timm
import torch
import torchvision
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from timm.models._hub import save_for_hf
from timm.models.deit import VisionTransformerDistilled
from timm.models.swin_transformer import SwinTransformer
from timm.models.vision_transformer import VisionTransformer as TimmViT
from torch import nn
from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor, ViTModel

from vit_studio.engine.checkpoints import (
    CheckpointInfo,
    inspect_checkpoint,
    load_model,
    torchvision_format,
)
from vit_studio.engine.checkpoints.common import HeadCountNeeded, head_count
from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import (
    FORMAT_KEY,
    HEADS_GIVEN,
    HEADS_KNOWN,
    HEADS_RECORDED,
    ViTArch,
    save_model,
)

TOLERANCE = 1e-4
LABELS = ("cat", "dog", "fox")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def perturbed(module: nn.Module, seed: int = 0) -> nn.Module:
    """Add noise to every parameter (LayerNorms start as ones, heads as zeros) and set eval."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.add_(torch.randn(param.shape, generator=generator) * 0.1)
    return module.eval()


def logits(module: nn.Module, images: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = module(images)
    return out.logits if hasattr(out, "logits") else out


def assert_same_logits(path: Path, reference: nn.Module, images: torch.Tensor) -> None:
    ours = load_model(path)
    difference = (logits(ours.module, images) - logits(reference, images)).abs().max().item()
    assert difference <= TOLERANCE


def refusal(path: Path, **kwargs) -> str:
    """The message load_model refuses `path` with; it must be one line naming the file."""
    with pytest.raises(StudioError) as caught:
        load_model(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    return message


# --- sources ------------------------------------------------------------------------------------


# torchvision and timm state dicts do not record the head count: the sources are ViT-Ti wide
# (192), a published width whose head count is known (3), unless a test is about the count.
def torchvision_vit(**overrides) -> torchvision.models.VisionTransformer:
    torch.manual_seed(0)
    kwargs = dict(
        image_size=32, patch_size=8, num_layers=2, num_heads=3, hidden_dim=192, mlp_dim=384,
        num_classes=5,
    )
    return perturbed(torchvision.models.VisionTransformer(**{**kwargs, **overrides}))


def timm_vit(**overrides) -> TimmViT:
    torch.manual_seed(0)
    kwargs = dict(
        img_size=32, patch_size=8, embed_dim=192, depth=2, num_heads=3, mlp_ratio=2.0,
        num_classes=5,
    )
    return perturbed(TimmViT(**{**kwargs, **overrides}))


def hf_vit(**overrides) -> ViTForImageClassification:
    torch.manual_seed(0)
    kwargs = dict(
        image_size=32, patch_size=8, hidden_size=128, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=256,
        id2label=dict(enumerate(LABELS)), label2id={name: i for i, name in enumerate(LABELS)},
    )
    return perturbed(ViTForImageClassification(ViTConfig(**{**kwargs, **overrides})))


def hf_folder(model: ViTForImageClassification, folder: Path) -> Path:
    model.save_pretrained(folder)
    return folder


# --- torchvision --------------------------------------------------------------------------------


def test_torchvision_state_dict_matches_torchvision(tmp_path, images):
    source = torchvision_vit()
    path = tmp_path / "my_vit.pth"
    torch.save(source.state_dict(), path)

    model = load_model(path)

    assert model.arch == ViTArch(
        image_size=32, patch_size=8, num_layers=2, num_heads=3, hidden_dim=192, mlp_dim=384,
        num_classes=5,
    )
    assert model.meta.heads_source == HEADS_KNOWN
    assert model.meta.name == "my_vit"
    assert model.meta.class_names == tuple(f"class {i}" for i in range(5))
    assert model.meta.preprocessing.crop_size == 32
    assert_same_logits(path, source, images)


def test_torchvision_pre_logits_and_old_mlp_names(tmp_path, images):
    # Checkpoints from before torchvision 0.14 name the MLP layers linear_1/linear_2.
    source = torchvision_vit(representation_size=64)
    old_names = {
        name.replace(".mlp.0.", ".mlp.linear_1.").replace(".mlp.3.", ".mlp.linear_2."): t
        for name, t in source.state_dict().items()
    }
    path = tmp_path / "old.pth"
    torch.save(old_names, path)

    assert load_model(path).arch.representation_size == 64
    assert_same_logits(path, source, images)


def test_training_checkpoint_wrappers_and_prefixes_are_unwrapped(tmp_path, images):
    # torchvision's reference train.py: {"model": ..., "args": Namespace}, DataParallel prefixes.
    source = torchvision_vit()
    wrapped = {f"module.{name}": t for name, t in source.state_dict().items()}
    checkpoint = {
        "model": wrapped,
        "optimizer": {"state": {}, "param_groups": []},
        "epoch": 7,
        "args": argparse.Namespace(model="vit_b_16", lr=0.003),
    }
    path = tmp_path / "checkpoint.pth"
    torch.save(checkpoint, path)
    assert_same_logits(path, source, images)


@pytest.mark.parametrize("key", ["state_dict", "model_state"])
def test_other_wrapper_keys(tmp_path, images, key):
    source = torchvision_vit()
    path = tmp_path / "wrapped.pt"
    torch.save({key: source.state_dict()}, path)
    assert_same_logits(path, source, images)


def test_legacy_torch_save_format(tmp_path, images):
    source = torchvision_vit()
    path = tmp_path / "legacy.pth"
    torch.save(source.state_dict(), path, _use_new_zipfile_serialization=False)
    assert_same_logits(path, source, images)


def test_a_head_count_the_file_does_not_record_is_asked_for_never_guessed(tmp_path, images):
    # 4 heads of 32: dividing the width by 64 would give 2 heads and logits several units off.
    source = torchvision_vit(hidden_dim=128, num_heads=4, mlp_dim=256)
    path = tmp_path / "narrow.pth"
    torch.save(source.state_dict(), path)

    message = refusal(path)
    assert "does not record its number of attention heads" in message
    assert "--num-heads N" in message and "1, 2, 4, 8" in message  # heads of 16 to 128 wide
    with pytest.raises(HeadCountNeeded) as needed:
        inspect_checkpoint(path)
    assert needed.value.hidden_dim == 128 and 4 in needed.value.choices
    model = load_model(path, num_heads=4)
    assert model.arch.num_heads == 4 and model.meta.heads_source == HEADS_GIVEN
    assert (logits(model.module, images) - logits(source, images)).abs().max() <= TOLERANCE
    assert "do not divide the hidden size 128" in str(
        pytest.raises(StudioError, load_model, path, num_heads=3).value
    )


def test_the_head_count_comes_from_the_user_the_file_or_the_published_width():
    path = Path("m.pth")
    assert head_count(768, path) == (12, HEADS_KNOWN)
    assert head_count(1280, path) == (16, HEADS_KNOWN)  # ViT-H/14: heads of 80, not 64
    assert head_count(768, path, recorded=8) == (8, HEADS_RECORDED)
    assert head_count(768, path, given=6, recorded=8) == (6, HEADS_GIVEN)
    with pytest.raises(HeadCountNeeded):
        head_count(512, path)  # 8 heads of 64, or 16 of 32: nothing says which
    with pytest.raises(StudioError, match="'x' is not a number"):
        head_count(768, path, recorded="x")


def test_a_timm_config_beside_the_weights_records_the_head_count(tmp_path, images):
    source = timm_vit(embed_dim=128, num_heads=4)
    save_file(source.state_dict(), tmp_path / "model.safetensors")
    config = {"architecture": "vit_custom", "num_classes": 5, "model_args": {"num_heads": 4}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    model = load_model(tmp_path)
    assert model.arch.num_heads == 4 and model.meta.heads_source == HEADS_RECORDED
    assert_same_logits(tmp_path, source, images)


def meta_torchvision_vit(builder: str, **kwargs) -> torchvision.models.VisionTransformer:
    """A full-size torchvision ViT as shapes only: tests its metadata at no cost."""
    with torch.device("meta"):
        return getattr(torchvision.models, builder)(**kwargs)


@pytest.mark.parametrize(
    ("builder", "image_size", "file_name", "resize", "interpolation"),
    [
        ("vit_b_16", 224, "finetuned.pth", 256, "bilinear"),  # IMAGENET1K_V1
        ("vit_b_16", 224, "vit_b_16_lc_swag-4e70ced5.pth", 224, "bicubic"),  # by hub file name
        ("vit_b_16", 384, "finetuned.pth", 384, "bicubic"),  # SWAG end-to-end
        ("vit_l_16", 224, "finetuned.pth", 242, "bilinear"),
        ("vit_l_16", 512, "finetuned.pth", 512, "bicubic"),
        ("vit_h_14", 518, "finetuned.pth", 518, "bicubic"),
        ("vit_b_32", 224, "finetuned.pth", 256, "bilinear"),
        ("vit_l_32", 224, "finetuned.pth", 256, "bilinear"),
    ],
)
def test_torchvision_imagenet_metadata_comes_from_torchvision(
    builder, image_size, file_name, resize, interpolation
):
    source = meta_torchvision_vit(builder, image_size=image_size)

    converted = torchvision_format.convert(source.state_dict(), Path(file_name), name="x")

    assert converted.arch.num_heads == source.encoder.layers[0].num_heads
    assert converted.arch.image_size == image_size
    assert converted.meta.class_names[0] == "tench"
    assert len(converted.meta.class_names) == 1000
    pre = converted.meta.preprocessing
    assert (pre.resize_size, pre.crop_size, pre.interpolation) == (
        resize, image_size, interpolation,
    )


def test_torchvision_other_sizes_and_heads_get_generic_metadata():
    source = meta_torchvision_vit("vit_b_16", image_size=256, num_classes=10)

    converted = torchvision_format.convert(source.state_dict(), Path("flowers.pth"), name="f")

    assert converted.meta.class_names == tuple(f"class {i}" for i in range(10))
    assert converted.meta.preprocessing.resize_size == 292  # 256 / 0.875
    assert converted.meta.preprocessing.crop_size == 256


# --- timm ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("file_name", ["vit.safetensors", "vit.pth", "vit.bin"])
def test_timm_state_dict_matches_timm(tmp_path, images, file_name):
    source = timm_vit()
    path = tmp_path / file_name
    if file_name.endswith(".safetensors"):
        save_file(source.state_dict(), path)
    else:
        torch.save(source.state_dict(), path)

    model = load_model(path)

    assert model.arch.num_heads == 3 and model.meta.heads_source == HEADS_KNOWN
    assert model.arch.norm_eps == 1e-6
    assert model.meta.provenance["format"] == "timm"
    assert_same_logits(path, source, images)


def test_timm_without_qkv_bias(tmp_path, images):
    source = timm_vit(qkv_bias=False)
    path = tmp_path / "no_bias.safetensors"
    save_file(source.state_dict(), path)
    assert_same_logits(path, source, images)


def test_timm_class_token_without_position_needs_its_config(tmp_path, images):
    # no_embed_class (deit3-style): the state dict alone cannot tell it from a non-square grid.
    source = timm_vit(no_embed_class=True)
    path = tmp_path / "model.safetensors"
    save_file(source.state_dict(), path)
    assert "no_embed_class" in refusal(path)

    config = {"architecture": "vit_custom", "model_args": {"no_embed_class": True}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert_same_logits(path, source, images)


def test_timm_training_checkpoint(tmp_path, images):
    # timm's train.py saves {"arch", "state_dict", "args": Namespace, ...}.
    source = timm_vit()
    checkpoint = {
        "epoch": 3,
        "arch": "vit_tiny_patch16_224",
        "state_dict": source.state_dict(),
        "args": argparse.Namespace(model="vit_tiny_patch16_224", lr=1e-3),
    }
    path = tmp_path / "model_best.pth.tar"
    torch.save(checkpoint, path)
    assert_same_logits(path, source, images)


def test_timm_hub_folder_config_supplies_heads_labels_and_preprocessing(tmp_path, images):
    # Head dim 32: only the config's num_heads can tell.
    torch.manual_seed(0)
    source = perturbed(
        timm.create_model(
            "vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, embed_dim=96,
            num_heads=3, depth=2, num_classes=3,
        )
    )
    folder = tmp_path / "timm-vit"
    labels = {"label_names": list(LABELS)}
    save_for_hf(source, folder, model_config=labels, safe_serialization="both")

    for path in (folder, folder / "model.safetensors", folder / "pytorch_model.bin"):
        model = load_model(path)
        assert model.arch.num_heads == 3
        assert model.meta.name == "timm-vit"
        assert model.meta.class_names == LABELS
        pre = model.meta.preprocessing
        assert (pre.resize_size, pre.crop_size, pre.interpolation) == (35, 32, "bicubic")
        assert pre.mean == (0.5, 0.5, 0.5)
        assert_same_logits(path, source, images)


def test_timm_without_config_assumes_timm_vit_defaults(tmp_path):
    path = tmp_path / "vit.safetensors"
    save_file(timm_vit(num_classes=1000).state_dict(), path)

    meta = load_model(path).meta

    assert meta.class_names[0] == "tench"  # ImageNet-1k order, as in timm
    assert (meta.preprocessing.interpolation, meta.preprocessing.mean) == ("bicubic", (0.5,) * 3)


def swin_state() -> dict[str, torch.Tensor]:
    swin = SwinTransformer(
        img_size=32, patch_size=4, window_size=4, embed_dim=16, depths=(1, 1),
        num_heads=(1, 1), num_classes=3,
    )
    return swin.state_dict()


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: VisionTransformerDistilled(
            img_size=32, patch_size=8, embed_dim=64, depth=1, num_heads=1, num_classes=3
        ).state_dict(), "distillation token"),
        (lambda: timm_vit(reg_tokens=4).state_dict(), "register tokens"),
        (lambda: timm_vit(global_pool="avg").state_dict(), "global-average-pool"),
        (lambda: timm_vit(qk_norm=True).state_dict(), "qk-norm"),
        (lambda: timm_vit(pre_norm=True).state_dict(), "pre-norm"),
        (lambda: timm_vit(class_token=False, global_pool="avg", fc_norm=False).state_dict(),
         "no class token"),
        (lambda: timm_vit(img_size=(32, 16)).state_dict(), "not a square grid"),
        (swin_state, "Swin-style"),
    ],
    ids=["distilled", "registers", "global-pool", "qk-norm", "norm-pre", "no-class-token",
         "non-square", "swin"],
)
def test_timm_features_a_plain_vit_lacks_are_refused_by_name(tmp_path, build, named):
    path = tmp_path / "unsupported.safetensors"
    save_file(build(), path)
    assert named in refusal(path)


def test_partial_timm_checkpoint_is_refused(tmp_path):
    state = timm_vit().state_dict()
    partial = {k: t for k, t in state.items() if not k.startswith("patch_embed.")}
    path = tmp_path / "partial.safetensors"
    save_file(partial, path)
    assert "incomplete timm ViT checkpoint (no 'conv_proj.weight'" in refusal(path)


def test_timm_global_pool_recorded_only_in_config_is_refused(tmp_path):
    folder = tmp_path / "avg-pool"
    folder.mkdir()
    save_file(timm_vit(global_pool="avg", fc_norm=False).state_dict(), folder / "model.safetensors")
    config = {"architecture": "vit_custom", "global_pool": "avg", "pretrained_cfg": {}}
    (folder / "config.json").write_text(json.dumps(config))

    assert "global_pool='avg'" in refusal(folder / "model.safetensors")


# --- Hugging Face -------------------------------------------------------------------------------


def test_hf_folder_matches_transformers(tmp_path, images):
    source = hf_vit(layer_norm_eps=1e-5)
    folder = hf_folder(source, tmp_path / "vit-hf")

    for path in (folder, folder / "config.json", folder / "model.safetensors"):
        model = load_model(path)
        assert model.meta.name == "vit-hf"
        assert model.meta.class_names == LABELS
        assert model.arch.norm_eps == 1e-5
        assert model.arch.num_heads == 2
        assert_same_logits(path, source, images)


def test_hf_defaults_without_preprocessor_config(tmp_path):
    pre = load_model(hf_folder(hf_vit(), tmp_path / "vit")).meta.preprocessing
    assert (pre.resize_size, pre.crop_size) == (32, 32)
    assert (pre.mean, pre.std, pre.interpolation) == ((0.5,) * 3, (0.5,) * 3, "bilinear")


def test_hf_preprocessor_config_is_used(tmp_path):
    folder = hf_folder(hf_vit(), tmp_path / "vit")
    ViTImageProcessor(
        size={"height": 32, "width": 32}, image_mean=[0.4, 0.5, 0.6], image_std=[0.2, 0.3, 0.4],
        resample=3,
    ).save_pretrained(folder)

    pre = load_model(folder).meta.preprocessing

    assert (pre.mean, pre.std, pre.interpolation) == ((0.4, 0.5, 0.6), (0.2, 0.3, 0.4), "bicubic")


def test_hf_pytorch_model_bin(tmp_path, images):
    # Older transformers wrote pytorch_model.bin with the on-disk names; transformers 5 always
    # writes safetensors, so the .bin is made from the same tensors.
    source = hf_vit()
    folder = hf_folder(source, tmp_path / "vit-bin")
    tensors = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save(tensors, folder / "pytorch_model.bin")

    assert_same_logits(folder, source, images)
    assert_same_logits(folder / "pytorch_model.bin", source, images)


def test_hf_in_memory_names_without_qkv_bias(tmp_path, images):
    # torch.save(model.state_dict()) under transformers 5 uses its renamed layout (q_proj, ...).
    source = hf_vit(qkv_bias=False)
    folder = hf_folder(source, tmp_path / "vit")
    (folder / "model.safetensors").unlink()
    torch.save(source.state_dict(), folder / "pytorch_model.bin")
    assert_same_logits(folder, source, images)


def test_hf_sharded_weights(tmp_path, images):
    source = hf_vit()
    folder = tmp_path / "sharded"
    source.save_pretrained(folder, max_shard_size="200KB")
    assert (folder / "model.safetensors.index.json").is_file()
    assert_same_logits(folder, source, images)


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"model_type": "swin", "architectures": ["SwinForImageClassification"]}, "'swin'"),
        ({"model_type": "deit", "architectures": ["DeiTForImageClassificationWithTeacher"]},
         "DeiTForImageClassificationWithTeacher"),
        ({"model_type": "vit", "architectures": ["ViTModel"]}, "no image-classification head"),
        ({"model_type": "vit", "hidden_act": "gelu_new"}, "gelu_new"),
    ],
)
def test_hf_other_models_are_refused_by_name(tmp_path, config, named):
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(config))
    assert named in refusal(folder / "config.json")


def test_hf_headless_weights_are_refused(tmp_path):
    torch.manual_seed(0)
    model = ViTModel(
        ViTConfig(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=1,
                  num_attention_heads=1, intermediate_size=64),
        add_pooling_layer=False,
    )
    folder = hf_folder(model, tmp_path / "headless")
    assert "ViTForImageClassification" in refusal(folder)


def test_hf_weights_without_their_config_are_refused(tmp_path):
    folder = hf_folder(hf_vit(), tmp_path / "vit")
    (folder / "config.json").unlink()
    assert "config.json" in refusal(folder / "model.safetensors")


# --- our format and round trips -----------------------------------------------------------------


def test_converted_model_saves_in_a_format_stock_torchvision_loads(tmp_path, images):
    source = timm_vit()
    timm_path = tmp_path / "timm.safetensors"
    save_file(source.state_dict(), timm_path)
    saved = save_model(load_model(timm_path), tmp_path / "ours.safetensors")

    with safe_open(str(saved), framework="pt") as handle:
        meta = json.loads(handle.metadata()[FORMAT_KEY])
    stock = torchvision.models.VisionTransformer(**meta["arch"])
    stock.load_state_dict(load_file(saved), strict=True)

    assert (logits(stock.eval(), images) - logits(source, images)).abs().max() <= TOLERANCE
    assert_same_logits(saved, source, images)
    assert inspect_checkpoint(saved).format == "vit_studio"


def test_own_files_are_recognised_by_metadata_not_name(tmp_path, tiny_model):
    path = save_model(tiny_model, tmp_path / "looks_like_a.pth")
    info = inspect_checkpoint(path)
    assert info == CheckpointInfo(path, "vit_studio", "tiny", tiny_model.arch)
    assert load_model(path).meta == tiny_model.meta


# --- inspection ---------------------------------------------------------------------------------


def test_inspection_agrees_with_loading_without_reading_weights(tmp_path, monkeypatch, tiny_model):
    timm_path = tmp_path / "timm.safetensors"
    save_file(timm_vit().state_dict(), timm_path)
    torchvision_path = tmp_path / "tv.pth"
    torch.save(torchvision_vit().state_dict(), torchvision_path)
    paths = {
        "timm": timm_path,
        "torchvision": torchvision_path,
        "huggingface": hf_folder(hf_vit(), tmp_path / "hf"),
        "vit_studio": save_model(tiny_model, tmp_path / "ours.safetensors"),
    }
    archs = {fmt: load_model(path).arch for fmt, path in paths.items()}

    def no_weights(*args, **kwargs):
        raise AssertionError("inspection read the weights")

    monkeypatch.setattr("vit_studio.engine.checkpoints.reading.load_file", no_weights)
    monkeypatch.setattr("safetensors.torch.load_file", no_weights)  # engine.model imports it late
    for fmt, path in paths.items():
        info = inspect_checkpoint(path)
        assert (info.format, info.arch) == (fmt, archs[fmt])


# --- files that are not ViT checkpoints ---------------------------------------------------------


class _RunsShellCommand:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


class _WritesFile:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("payload", [_RunsShellCommand, _WritesFile])
def test_malicious_pickle_is_refused_and_nothing_in_it_runs(tmp_path, payload):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pth"
    torch.save({"model": payload(marker)}, path)

    message = refusal(path)

    assert not marker.exists()
    assert "never runs code" in message


def test_whole_pickled_module_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "whole.pth"
    torch.save(torchvision_vit(), path)
    message = refusal(path)
    assert "VisionTransformer" in message
    assert "state_dict()" in message


@pytest.mark.parametrize(
    ("write", "found"),
    [
        (lambda p: save_file({"encoder.weight": torch.ones(3, 3)}, p), "'encoder.weight'"),
        (lambda p: p.write_text("just some notes\n"), "neither safetensors nor a PyTorch file"),
        (lambda p: p.write_text('{"name": "x"}'), "not a model config"),
        (lambda p: torch.save({"conv1.weight": torch.ones(2)}, p), "'conv1.weight'"),
    ],
    ids=["random-safetensors", "text", "json", "resnet-like"],
)
def test_unrecognised_files_name_what_was_found_and_what_is_supported(tmp_path, write, found):
    path = tmp_path / "model.safetensors"
    write(path)
    message = refusal(path)
    assert "not a ViT checkpoint" in message
    assert found in message
    assert "supported: ViT Studio" in message


def test_missing_path_and_folder_without_config(tmp_path):
    assert "no such file" in refusal(tmp_path / "absent.pth")
    assert "config.json" in refusal(tmp_path)
