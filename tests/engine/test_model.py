"""Wrapping torchvision ViTs built in code."""

from torchvision.models import VisionTransformer

from vit_studio.engine.model import from_torchvision


def test_a_torchvision_vit_built_in_code_is_wrapped_with_its_own_head_count():
    module = VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
        num_classes=3,
    )
    model = from_torchvision(module, "built in code")
    assert (model.arch.num_heads, model.arch.num_layers, model.arch.grid_size) == (2, 2, 4)
    assert model.arch.norm_eps == module.encoder.ln.eps
    assert model.meta.name == "built in code" and len(model.meta.class_names) == 3
    assert model.module is module
