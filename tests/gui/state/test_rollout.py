"""Rollout settings: invalid ones are refused, and they select the engine's own rollout map."""

import numpy as np
import pytest

from tests.gui.analyses import tiny_analysis
from vit_studio.gui.state.rollout import RolloutSettings, rollout_map


@pytest.fixture(scope="module")
def analysis():
    return tiny_analysis(gradient_classes=2)


def test_settings_reject_unknown_choices():
    with pytest.raises(ValueError):
        RolloutSettings(mode="magic")
    with pytest.raises(ValueError):
        RolloutSettings(head_fusion="median")
    with pytest.raises(ValueError):
        RolloutSettings(discard_ratio=1.0)
    with pytest.raises(ValueError):
        RolloutSettings(start_layer=-1)


@pytest.mark.parametrize("fusion", ["mean", "max", "min"])
@pytest.mark.parametrize(("discard", "start"), [(0.0, 0), (0.6, 1), (0.9, 2)])
def test_plain_rollout_map_is_the_analysis_rollout(analysis, fusion, discard, start):
    settings = RolloutSettings("plain", fusion, discard, start)
    np.testing.assert_array_equal(
        rollout_map(analysis, settings, class_index=0),
        analysis.rollout(fusion, discard, start),
    )


@pytest.mark.parametrize(("discard", "start"), [(0.0, 0), (0.5, 1)])
def test_gradient_rollout_map_is_the_analysis_gradient_rollout(analysis, discard, start):
    for class_index in analysis.class_relevance:
        settings = RolloutSettings("gradient", "max", discard, start)
        np.testing.assert_array_equal(
            rollout_map(analysis, settings, class_index),
            analysis.gradient_rollout(class_index, discard, start),
        )


def test_a_start_layer_past_a_models_depth_is_clipped_for_it_and_kept_for_the_next():
    settings = RolloutSettings(start_layer=5)
    assert settings.for_layers(3).start_layer == 2
    assert settings.for_layers(12) == settings
