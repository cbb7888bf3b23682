"""The image view: patch hit-testing, the heat map it paints, opacity, grid and colour bar."""

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest

from vit_studio.gui.widgets.image_view import ImageView, patch_label


@pytest.fixture
def view(qtbot):
    view = ImageView()
    qtbot.addWidget(view)
    view.resize(500, 460)
    view.show()
    pixels = np.full((32, 32, 3), 128, dtype=np.uint8)
    view.set_image(pixels, 4)
    return view


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
