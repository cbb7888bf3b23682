"""A backbone without a classifier in the explorer: the views that need classes say so in place
and step aside; everything else works as for a classifier."""

from __future__ import annotations

import pytest

from tests.backbones import save_timm_folder, timm_dinov2
from tests.gui.conftest import WAIT_MS, open_window
from vit_studio.engine.model import NO_CLASSIFIER
from vit_studio.gui.state.rollout import RolloutSettings


@pytest.fixture
def backbone_folder(tmp_path):
    return save_timm_folder(timm_dinov2(), tmp_path / "dinov2-tiny")


@pytest.fixture
def backbone_window(qtbot, settings, backbone_folder, images):
    """The explorer showing a backbone's analysis, opened with class-specific rollout chosen."""
    settings.rollout = RolloutSettings(mode="gradient")
    window = open_window(qtbot, settings)
    with qtbot.waitSignal(window.analysisReady, timeout=WAIT_MS):
        window.load_model(backbone_folder)
        window.open_image(images[0])
    yield window
    window.close()
    assert window.shutdown(), "a worker thread did not stop"


def test_predictions_view_says_the_backbone_has_no_classes_and_how_to_add_them(backbone_window):
    window = backbone_window
    window.show_view("predictions")
    view = window.views.predictions

    assert not view.bars.isVisible() and view.bars.predictions() == []
    assert NO_CLASSIFIER in view.caption()
    assert window.error_text() == ""
    assert window.model_panel.field("classes") == "none (a backbone)"


def test_rollout_of_a_backbone_is_plain_attention_rollout_and_class_specific_is_disabled(
    backbone_window,
):
    window = backbone_window
    controls = window.rollout_controls

    controls.set_settings(RolloutSettings(mode="gradient"))

    assert controls.settings().mode == "plain"
    assert window.state.effective_rollout.mode == "plain"
    assert window.overlay_kind() == "rollout" and window.view_map.shape == (4, 4)
    assert window.state.rollout.mode == "gradient"  # kept for the next model with classes


def test_attention_positions_distances_and_norms_of_a_backbone_are_shown(backbone_window):
    window = backbone_window
    for view in ("attention", "posembed", "patch", "distance", "norms"):
        window.show_view(view)
    window.state.select_head(1, 0)
    assert window.view_map.shape == (4, 4)
    window.state.select_patch(5, overlay="posembed")
    assert window.view_map.shape == (4, 4)
    assert window.error_text() == ""


def test_exporting_a_backbones_folder_predictions_is_refused_in_the_banner(
    qtbot, backbone_window, images, tmp_path
):
    window = backbone_window
    window.open_folder(images[0].parent)
    with qtbot.waitSignal(window.errorShown, timeout=WAIT_MS) as shown:
        window.export_folder_csv(tmp_path / "predictions.csv")
    assert "no classes to predict" in shown.args[0]
