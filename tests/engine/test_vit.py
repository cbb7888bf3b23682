"""`engine.vit` restates torchvision's `VisionTransformer`: the same tensors under the same names,
the same weights from the same seed, the same outputs, so files move between the two freely;
and a shape-only build (for loading) imports nothing but torch."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torchvision

from vit_studio.engine.vit import VisionTransformer

SHAPES = {
    "classifier": dict(image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=32,
                       mlp_dim=64, num_classes=5),
    "pre-logits": dict(image_size=32, patch_size=16, num_layers=1, num_heads=2, hidden_dim=16,
                       mlp_dim=32, num_classes=3, representation_size=8),
    "backbone": dict(image_size=16, patch_size=4, num_layers=2, num_heads=2, hidden_dim=16,
                     mlp_dim=24, num_classes=0),
}  # fmt: skip


def both(shape: dict, seed: int = 0) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(seed)
    ours = VisionTransformer(**shape)
    torch.manual_seed(seed)
    stock = torchvision.models.VisionTransformer(**shape)
    return ours, stock


@pytest.mark.parametrize("name", SHAPES)
def test_a_seed_draws_torchvisions_tensors_under_torchvisions_names(name):
    ours, stock = both(SHAPES[name])
    mine, theirs = ours.state_dict(), stock.state_dict()
    assert list(mine) == list(theirs)
    for key in mine:
        assert torch.equal(mine[key], theirs[key]), key


@pytest.mark.parametrize("name", SHAPES)
def test_the_forward_pass_is_torchvisions_bit_for_bit(name):
    ours, stock = both(SHAPES[name], seed=1)
    with torch.no_grad():
        for parameter in stock.heads.parameters():  # torchvision zero-initialises the head
            parameter.normal_()
    ours.load_state_dict(stock.state_dict())  # and files saved from either open in the other
    stock.load_state_dict(ours.state_dict())
    size = SHAPES[name]["image_size"]
    images = torch.randn(3, 3, size, size, generator=torch.Generator().manual_seed(2))
    for module in (ours, stock):
        module.eval()
    with torch.no_grad():
        assert torch.equal(ours(images), stock(images))
    # With gradients (the class-specific rollout), on a path that is not the fused kernel.
    assert torch.equal(ours(images), stock(images))


def test_the_comparison_sees_one_weight_moved():
    ours, stock = both(SHAPES["classifier"], seed=1)
    with torch.no_grad():
        for parameter in stock.heads.parameters():
            parameter.normal_()
        ours.load_state_dict(stock.state_dict())
        ours.encoder.layers[1].mlp[3].bias[0] += 1e-3
        images = torch.randn(2, 3, 32, 32)
        assert not torch.equal(ours.eval()(images), stock.eval()(images))


def test_a_picture_of_the_wrong_size_is_refused():
    ours, _ = both(SHAPES["classifier"])
    with pytest.raises(ValueError, match="expected 32 × 32 pixels, got 24 × 32"):
        ours(torch.zeros(1, 3, 24, 32))


COMPILER_CHECK = """
import sys, torch
{build}
print("torch._dynamo" in sys.modules)
"""


@pytest.mark.parametrize(
    ("build", "compiler"),
    [
        ("from vit_studio.engine.model import ViTArch, build_vit\n"
         "with torch.device('meta'):\n"
         "    build_vit(ViTArch(32, 8, 2, 2, 16, 32, 10))", False),
        # Why engine.vit skips normal_ on meta tensors: torch runs it through its compiler.
        ("torch.empty(3, device='meta').normal_()", True),
    ],
    ids=["our shape-only build", "normal_ on a meta tensor"],
)  # fmt: skip
def test_a_shape_only_build_does_not_import_torchs_compiler(build, compiler):
    done = subprocess.run([sys.executable, "-c", COMPILER_CHECK.format(build=build)],
                          capture_output=True, text=True, timeout=300, check=True)  # fmt: skip
    assert done.stdout.split()[-1] == str(compiler)
