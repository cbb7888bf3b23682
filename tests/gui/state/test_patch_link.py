"""The split view's synchronised patch selection, with no window: a patch picked in one pane is
selected in the other at the same place of the photo (or of the model input, for two images),
and each pane keeps painting its own kind of map."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import TINY_ARCH, random_model, write_image
from vit_studio.engine.analysis import analyze
from vit_studio.engine.crop import original_image
from vit_studio.engine.images import open_image, prepare_image
from vit_studio.engine.model import Preprocessing, ViTArch, make_model
from vit_studio.gui.state.explorer import ExplorerState
from vit_studio.gui.state.patch_link import PatchLink, linked_patch
from vit_studio.gui.state.results import ImageResult

FINE_ARCH = replace(TINY_ARCH, patch_size=4)  # an 8 × 8 grid on the same 32-pixel input


def result_of(photo: Path, arch: ViTArch = TINY_ARCH, resize: int = 36) -> ImageResult:
    """What the inference worker hands the explorer for `photo`, by a random model of `arch`
    that resizes the shorter side to `resize` before its centre crop."""
    model = random_model(arch)
    pre = Preprocessing(resize_size=resize, crop_size=arch.image_size)
    model = make_model(model.module, arch, replace(model.meta, preprocessing=pre))
    image = open_image(photo)
    analysis = analyze(model, prepare_image(image, pre))
    return ImageResult(photo, analysis, "cpu", 0.0, 0.0, original_image(image, pre, arch.grid_size))


def centre(result: ImageResult, patch: int) -> tuple[float, float]:
    """The centre of `patch`, as a fraction of the photo's width and height."""
    geometry = result.original.geometry
    left, top, right, bottom = geometry.patch_box(*divmod(patch, result.analysis.grid_size))
    return (left + right) / 2 / geometry.width, (top + bottom) / 2 / geometry.height


def covers(result: ImageResult, patch: int, point: tuple[float, float]) -> bool:
    geometry = result.original.geometry
    left, top, right, bottom = geometry.patch_box(*divmod(patch, result.analysis.grid_size))
    x, y = point[0] * geometry.width, point[1] * geometry.height
    return left <= x < right and top <= y < bottom


@pytest.fixture
def photo(tmp_path) -> Path:
    return write_image(tmp_path / "wide.png", size=(60, 40))


def test_the_same_model_on_the_same_photo_picks_the_same_patch(photo):
    result = result_of(photo)
    assert [linked_patch(result, p, result) for p in range(16)] == list(range(16))


def test_a_finer_grid_gets_the_patch_under_the_centre(photo):
    coarse, fine = result_of(photo), result_of(photo, FINE_ARCH)
    for row in range(4):
        for column in range(4):
            # A patch of 8 pixels holds four of 4; its centre is the corner of the lower right one.
            expected = (2 * row + 1) * 8 + 2 * column + 1
            assert linked_patch(coarse, row * 4 + column, fine) == expected


def test_another_crop_of_the_photo_is_followed_through_the_photo(photo):
    # Resizing the shorter side to 64 zooms in: that model sees the middle of the other's view.
    wide, zoomed = result_of(photo, resize=32), result_of(photo, resize=64)
    for patch in range(16):
        point = centre(zoomed, patch)
        linked = linked_patch(zoomed, patch, wide)
        assert linked is not None and covers(wide, linked, point), patch
    outside = [p for p in range(16) if linked_patch(wide, p, zoomed) is None]
    assert outside == [0, 1, 2, 3, 4, 7, 8, 11, 12, 13, 14, 15]  # the ring round the middle


def test_two_images_share_the_place_in_the_model_input(tmp_path, photo):
    other = write_image(tmp_path / "tall.png", size=(30, 50), seed=3)
    coarse, fine = result_of(photo), result_of(other, FINE_ARCH)
    assert linked_patch(coarse, 1 * 4 + 2, fine) == 3 * 8 + 5
    assert linked_patch(fine, 3 * 8 + 5, coarse) == 1 * 4 + 2


# --- two states, linked --------------------------------------------------------------------------


@pytest.fixture
def panes(photo):
    left, right = ExplorerState(), ExplorerState()
    left.analysis_ready(result_of(photo))
    right.analysis_ready(result_of(photo, FINE_ARCH))
    return left, right


def test_a_patch_picked_in_either_pane_is_picked_in_the_other(panes):
    left, right = panes
    PatchLink(left, right)
    left.select_patch(5)
    assert right.patch == 3 * 8 + 3
    right.select_patch(8 * 8 - 1)
    assert left.patch == 15


def test_each_pane_keeps_its_own_kind_of_map(panes):
    left, right = panes
    right.set_overlay_kind("posembed")
    PatchLink(left, right)
    left.select_patch(0)
    assert left.overlay_kind == "patch"
    assert right.overlay_kind == "posembed" and "row 2, column 2" in right.overlay.title
    right.set_overlay_kind("rollout")
    left.select_patch(15)
    assert right.overlay_kind == "rollout" and right.patch == 7 * 8 + 7


def test_a_new_analysis_in_either_pane_places_the_leaders_patch_again(panes, photo):
    left, right = panes
    PatchLink(left, right)
    left.select_patch(5)
    right.analysis_ready(result_of(photo, TINY_ARCH))  # the right pane takes another model
    assert right.patch == 5


def test_a_patch_picked_before_the_link_is_carried_over(panes):
    left, right = panes
    left.select_patch(10)
    PatchLink(left, right)
    assert right.patch == 5 * 8 + 5


def test_a_place_outside_the_other_crop_is_reported_and_leaves_its_selection(photo):
    wide, zoomed = ExplorerState(), ExplorerState()
    wide.analysis_ready(result_of(photo, resize=32))
    zoomed.analysis_ready(result_of(photo, resize=64))
    heard = []
    PatchLink(wide, zoomed, lambda target, inside: heard.append((target is zoomed, inside)))
    wide.select_patch(5)
    assert heard == [(True, True)] and zoomed.patch is not None
    kept = zoomed.patch
    wide.select_patch(0)
    assert heard[-1] == (True, False) and zoomed.patch == kept


def test_unlinked_panes_pick_on_their_own(panes):
    left, right = panes
    link = PatchLink(left, right)
    link.unlink()
    left.select_patch(5)
    assert right.patch is None
