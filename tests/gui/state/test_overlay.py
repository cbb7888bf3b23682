"""Which map is painted over the image, and how it is titled and scaled, for each overlay kind."""

import numpy as np
import pytest

from tests.gui.analyses import tiny_analysis
from vit_studio.gui.state.overlay import (
    DEFAULT_COLORMAP,
    MEAN_HEAD,
    OVERLAYS,
    SIMILARITY_COLORMAP,
    overlay_for,
)
from vit_studio.gui.state.rollout import RolloutSettings

PATCH = 6  # row 2, column 3 of the tiny model's 4 × 4 grid
PLAIN = RolloutSettings()


@pytest.fixture(scope="module")
def analysis():
    return tiny_analysis(gradient_classes=2)  # gradients cached for the top-2 classes only


def overlay(analysis, kind, rollout=PLAIN, *, layer=2, head=MEAN_HEAD, patch=PATCH,
            class_index=None):
    if class_index is None:
        class_index = analysis.top_k(1)[0].index
    return overlay_for(analysis, kind, rollout, layer=layer, head=head, patch=patch,
                       class_index=class_index)


def test_the_rollout_overlay_is_the_attention_rollout_the_settings_ask_for(analysis):
    shown = overlay(analysis, "rollout", RolloutSettings("plain", "max", 0.5, 1))
    np.testing.assert_allclose(shown.grid_map, analysis.rollout("max", 0.5, 1))
    assert shown.title == "Attention rollout (max of heads, discard 0.50, from layer 2)"
    assert (shown.vmin, shown.vmax) == (0.0, 1.0)
    assert shown.label == "rolled-out attention (max = 1)"


def test_the_class_specific_rollout_explains_the_chosen_class(analysis):
    second = analysis.top_k(2)[1].index
    shown = overlay(analysis, "rollout", RolloutSettings(mode="gradient"), class_index=second)
    np.testing.assert_allclose(shown.grid_map, analysis.gradient_rollout(second))
    assert shown.title.startswith(f"Class-specific rollout for '{analysis.class_names[second]}'")
    assert not shown.awaiting_gradients


def test_a_class_without_cached_gradients_waits_for_them_with_nothing_painted(analysis):
    outside = next(i for i in range(5) if i not in analysis.class_relevance)
    shown = overlay(analysis, "rollout", RolloutSettings(mode="gradient"), class_index=outside)
    assert shown.awaiting_gradients and shown.grid_map is None
    assert shown.title.startswith("Computing the class-specific rollout")


def test_the_attention_overlay_shows_the_class_tokens_attention_in_the_selected_head(analysis):
    shown = overlay(analysis, "attention", layer=1, head=3)
    np.testing.assert_allclose(shown.grid_map, analysis.cls_attention[1, 3])
    assert shown.title == "Class-token attention, layer 2, head 4"
    assert shown.vmin == 0.0 and shown.vmax is None  # the top of the scale is the map's own


def test_the_attention_overlay_of_the_mean_head_averages_the_heads(analysis):
    shown = overlay(analysis, "attention", layer=0, head=MEAN_HEAD)
    np.testing.assert_allclose(shown.grid_map, analysis.cls_attention[0].mean(axis=0))
    assert shown.title == "Class-token attention, layer 1, mean of heads"


def test_the_patch_overlay_shows_where_the_selected_patch_attends(analysis):
    shown = overlay(analysis, "patch", layer=2, head=1)
    np.testing.assert_allclose(shown.grid_map, analysis.patch_attention(2, PATCH, 1))
    assert shown.title == "Where patch row 2, column 3 attends, layer 3, head 2"
    assert shown.label == "attention weight"


def test_the_position_overlay_shows_the_selected_patchs_similarity_on_a_fixed_scale(analysis):
    shown = overlay(analysis, "posembed")
    np.testing.assert_allclose(shown.grid_map, analysis.patch_pos_similarity(PATCH))
    assert shown.title == "Position-embedding similarity of patch row 2, column 3"
    assert (shown.vmin, shown.vmax, shown.label) == (-1.0, 1.0, "cosine similarity")
    assert shown.colormap == SIMILARITY_COLORMAP  # the colours of the position mosaic


@pytest.mark.parametrize("kind", ["patch", "posembed"])
def test_patch_overlays_ask_for_a_click_until_a_patch_is_selected(analysis, kind):
    shown = overlay(analysis, kind, patch=None)
    assert shown.grid_map is None
    assert shown.title == "Click a patch on the image to inspect it"


def test_no_overlay_shows_the_image_as_the_model_sees_it(analysis):
    shown = overlay(analysis, "none")
    assert shown.grid_map is None
    assert shown.title == "The image as the model sees it: 32 px, 4 × 4 patches"


@pytest.mark.parametrize("kind", list(OVERLAYS))
def test_every_offered_kind_has_a_title_and_only_similarity_changes_colours(analysis, kind):
    shown = overlay(analysis, kind)
    assert shown.title
    assert shown.colormap == (SIMILARITY_COLORMAP if kind == "posembed" else DEFAULT_COLORMAP)
