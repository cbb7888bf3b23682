"""Architecture presets and their overrides."""

import pytest

from vit_studio.engine.errors import StudioError
from vit_studio.engine.training import (
    preset_arch,
)


def test_presets_with_overrides():
    lite = preset_arch("lite", 10)
    assert (lite.num_layers, lite.num_heads, lite.hidden_dim, lite.mlp_dim) == (7, 4, 256, 512)
    assert (lite.image_size, lite.patch_size, lite.num_classes) == (32, 4, 10)
    assert preset_arch("tiny", 3, image_size=64, patch_size=None).image_size == 64
    with pytest.raises(StudioError, match="choose one of"):
        preset_arch("huge", 3)
    with pytest.raises(StudioError, match="multiple of patch size"):
        preset_arch("lite", 3, image_size=30)
