"""The image view: patch hit-testing, the heat map it paints, opacity, grid and colour bar, and
maps over the user's photo (crop outlined, the rest dimmed) or over the model's input."""

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QCheckBox

from vit_studio.engine.crop import crop_geometry, original_image
from vit_studio.engine.images import prepare_image
from vit_studio.engine.model import Preprocessing
from vit_studio.gui import imaging
from vit_studio.gui.state.overlay import patch_label
from vit_studio.gui.widgets.image_view import ImageView

PRE = Preprocessing(resize_size=36, crop_size=32)  # 4 × 4 patches of 8 pixels
GRID = 4


@pytest.fixture
def view(qtbot):
    view = ImageView()
    qtbot.addWidget(view)
    view.resize(500, 460)
    view.show()
    pixels = np.full((32, 32, 3), 128, dtype=np.uint8)
    view.set_image(pixels, 4)
    return view


def gradient_photo(width: int, height: int) -> Image.Image:
    """Red grows to the right, green downwards: every point's colour says where it is."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[..., 0] = np.linspace(0, 255, width)[None, :].round()
    pixels[..., 1] = np.linspace(0, 255, height)[:, None].round()
    pixels[..., 2] = 128
    return Image.fromarray(pixels)


@pytest.fixture(params=[(640, 400), (400, 640)], ids=["landscape", "portrait"])
def photo_view(request, view):
    photo = gradient_photo(*request.param)
    view.set_image(prepare_image(photo, PRE).pixels, GRID, original_image(photo, PRE, GRID))
    view.set_grid_visible(False)
    return view


def colour(view, point: QPointF):
    return view.canvas.grab().toImage().pixelColor(point.toPoint())


def hot_patch_map(row: int, column: int) -> np.ndarray:
    grid_map = np.zeros((GRID, GRID), dtype=np.float32)
    grid_map[row, column] = 1.0
    return grid_map


def test_every_patch_is_hit_where_it_is_painted(view):
    canvas = view.canvas
    for patch in range(16):
        assert canvas.patch_at(canvas.patch_rect(patch).center()) == patch
    area = canvas.image_rect()
    assert canvas.patch_at(QPointF(area.left() - 2, area.top() + 2)) is None


def test_a_click_selects_the_patch_and_reports_it(qtbot, view):
    canvas = view.canvas
    with qtbot.waitSignal(view.patchClicked) as clicked:
        QTest.mouseClick(canvas, Qt.MouseButton.LeftButton,
                         pos=canvas.patch_rect(9).center().toPoint())
    assert clicked.args == [9] and canvas.selected_patch() == 9
    assert patch_label(9, 4) == "row 3, column 2"


def test_the_heat_map_is_painted_per_patch_at_the_chosen_opacity(view):
    grid_map = np.zeros((4, 4), dtype=np.float32)
    grid_map[0, 3] = 1.0
    view.set_grid_visible(False)
    view.set_overlay(grid_map, "A test map", "test value", vmin=0.0, vmax=1.0)
    assert view.title() == "A test map"
    canvas = view.canvas

    def colour_at(patch):
        return canvas.grab().toImage().pixelColor(canvas.patch_rect(patch).center().toPoint())

    view.set_opacity(1.0)
    hot, cold = colour_at(3), colour_at(12)
    assert hot.red() > 200 and cold.red() < 30  # inferno: bright yellow vs black
    view.set_opacity(0.0)
    assert colour_at(3).red() == 128  # the picture alone
    view.clear_overlay("nothing")
    view.set_opacity(1.0)
    assert colour_at(3).red() == 128


def test_opacity_and_grid_controls_report_changes(qtbot, view):
    with qtbot.waitSignal(view.opacityChanged) as changed:
        view.set_opacity(0.25)
    assert changed.args == [0.25] and view.opacity() == 0.25
    with qtbot.waitSignal(view.gridToggled) as toggled:
        view.set_grid_visible(False)
    assert toggled.args == [False] and not view.grid_visible()


def test_arrow_keys_ask_for_the_next_or_previous_image(qtbot, view):
    with qtbot.waitSignal(view.stepRequested) as step:
        QTest.keyClick(view.canvas, Qt.Key.Key_Left)
    assert step.args == [-1]


# --- the photo ------------------------------------------------------------------------------


def test_the_photo_is_shown_whole_at_its_own_shape_with_the_crop_inside(photo_view):
    canvas = photo_view.canvas
    assert canvas.showing_original()
    area, crop = canvas.image_rect(), canvas.crop_rect()
    width, height = canvas.geometry_shown().width, canvas.geometry_shown().height
    assert area.width() / area.height() == pytest.approx(width / height, rel=0.01)
    # Square within rounding: torchvision truncates the resized long side (57.6 -> 57 here).
    assert area.contains(crop) and crop.width() == pytest.approx(crop.height(), rel=0.02)
    # The crop is the central crop_size / resize_size of the shorter side.
    short = min(area.width(), area.height()) * PRE.crop_size / PRE.resize_size
    assert crop.height() == pytest.approx(short, rel=0.02)
    # Centred within half a resized pixel: torchvision rounds the offset (12.5 -> 12 here).
    half_pixel = crop.width() / PRE.crop_size / 2 + 0.5
    assert crop.center().x() == pytest.approx(area.center().x(), abs=half_pixel)
    assert crop.center().y() == pytest.approx(area.center().y(), abs=half_pixel)


def test_each_patch_of_the_photo_shows_the_pixels_of_that_patch_of_the_model_input(photo_view):
    canvas = photo_view.canvas
    photo_view.set_opacity(0.0)
    on_photo = [colour(photo_view, canvas.patch_rect(k).center()) for k in range(GRID * GRID)]
    photo_view.set_show_model_input(True)
    assert not canvas.showing_original()
    on_input = [colour(photo_view, canvas.patch_rect(k).center()) for k in range(GRID * GRID)]
    for k, (a, b) in enumerate(zip(on_photo, on_input, strict=True)):
        assert abs(a.red() - b.red()) <= 6 and abs(a.green() - b.green()) <= 6, k


def test_the_map_lies_over_the_same_patch_on_the_photo_and_on_the_model_input(photo_view):
    photo_view.set_overlay(hot_patch_map(1, 2), "one hot patch", "value", vmin=0.0, vmax=1.0)
    photo_view.set_opacity(1.0)
    canvas = photo_view.canvas
    for model_input in (False, True):
        photo_view.set_show_model_input(model_input)
        reds = [colour(photo_view, canvas.patch_rect(k).center()).red() for k in range(16)]
        assert reds[1 * GRID + 2] > 200 and max(reds[:6] + reds[7:]) < 30, model_input


def test_what_the_crop_cut_off_is_dimmed(photo_view):
    photo_view.set_opacity(0.0)
    canvas = photo_view.canvas
    geometry = canvas.geometry_shown()
    corner = canvas.widget_point(geometry.width - 6, geometry.height - 6)  # bottom right
    photo = original_image(gradient_photo(geometry.width, geometry.height), PRE, GRID).pixels
    assert colour(photo_view, corner).red() < 0.6 * photo[-6, -6, 0]


def test_a_click_on_the_photo_selects_the_patch_a_click_on_the_model_input_would(
    qtbot, photo_view
):
    canvas = photo_view.canvas
    geometry = canvas.geometry_shown()
    # Where each model-input pixel came from, as the engine's test checks against torchvision.
    footprints = crop_geometry(geometry.width, geometry.height, PRE, grid_size=PRE.crop_size)
    for u, v in [(1, 2), (12, 13), (22, 27), (30, 6)]:
        expected = (v // 8) * GRID + u // 8
        left, top, right, bottom = footprints.patch_box(v, u)
        on_photo = canvas.widget_point((left + right) / 2, (top + bottom) / 2)
        with qtbot.waitSignal(photo_view.patchClicked) as clicked:
            QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=on_photo.toPoint())
        photo_view.set_show_model_input(True)
        with qtbot.waitSignal(photo_view.patchClicked) as clicked_input:
            QTest.mouseClick(canvas, Qt.MouseButton.LeftButton,
                             pos=canvas.widget_point(u + 0.5, v + 0.5).toPoint())
        photo_view.set_show_model_input(False)
        assert clicked.args == clicked_input.args == [expected], (u, v)


def test_a_click_outside_the_crop_selects_nothing(qtbot, photo_view):
    canvas = photo_view.canvas
    geometry = canvas.geometry_shown()
    photo_view.select_patch(5)
    with qtbot.assertNotEmitted(photo_view.patchClicked):
        QTest.mouseClick(canvas, Qt.MouseButton.LeftButton,
                         pos=canvas.widget_point(4, 4).toPoint())
    assert canvas.selected_patch() == 5
    assert canvas.patch_at(canvas.widget_point(geometry.width - 4, geometry.height - 4)) is None


def test_blocky_maps_are_flat_per_patch_and_smooth_maps_blend_in_colour_map_colours(photo_view):
    photo_view.set_overlay(hot_patch_map(1, 1), "one hot patch", "value", vmin=0.0, vmax=1.0)
    photo_view.set_opacity(1.0)
    canvas = photo_view.canvas
    hot = canvas.patch_rect(1 * GRID + 1)
    inside_edge = QPointF(hot.left() + hot.width() * 0.1, hot.center().y())
    assert not photo_view.smooth_map()  # blocky by default: what the model computes
    assert colour(photo_view, inside_edge) == colour(photo_view, hot.center())
    photo_view.set_smooth_map(True)
    centre, edge = colour(photo_view, hot.center()), colour(photo_view, inside_edge)
    assert 30 < edge.green() < centre.green() - 30  # inferno brightens in green throughout
    lut = imaging.colormap_lut().astype(int)
    distance = np.abs(lut - [edge.red(), edge.green(), edge.blue()]).sum(axis=1).min()
    assert distance <= 6  # a colour of the colour map, not a mix of two of its colours


def test_the_photo_and_smooth_toggles_report_changes(qtbot, photo_view):
    with qtbot.waitSignal(photo_view.modelInputToggled) as toggled:
        photo_view.set_show_model_input(True)
    assert toggled.args == [True] and photo_view.showing_model_input()
    with qtbot.waitSignal(photo_view.smoothMapToggled) as smooth:
        photo_view.set_smooth_map(True)
    assert smooth.args == [True] and photo_view.smooth_map()


def test_without_a_photo_the_model_input_is_shown_and_the_toggle_is_off(view):
    canvas = view.canvas
    assert not canvas.showing_original()
    assert canvas.image_rect() == canvas.crop_rect()
    toggle = next(box for box in view.options.findChildren(QCheckBox)
                  if box.text() == "Show what the model sees")  # fmt: skip
    assert not toggle.isEnabled()
