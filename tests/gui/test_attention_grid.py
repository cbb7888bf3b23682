"""The attention grid shows every layer and head and reports the thumbnail the user picks."""

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip

from tests.gui.analyses import fake_analysis, tiny_analysis
from vit_studio.gui import imaging
from vit_studio.gui.widgets.attention_grid import AttentionGrid, per_thumbnail_colours


@pytest.fixture(scope="module")
def analysis():
    return tiny_analysis()


@pytest.fixture
def grid(qtbot, analysis):
    widget = AttentionGrid()
    qtbot.addWidget(widget)
    widget.resize(700, 500)
    widget.show()
    widget.show_analysis(analysis)
    return widget


def click(qtbot, grid, layer, column):
    centre = grid.canvas.cell_rect(layer, column).center()
    qtbot.mouseClick(grid.canvas, Qt.MouseButton.LeftButton, pos=centre)


def test_one_thumbnail_per_layer_and_head_plus_a_mean_column(grid, analysis):
    assert grid.canvas.shape() == (analysis.num_layers, analysis.num_heads + 1)


def test_clicking_a_thumbnail_emits_its_layer_and_head(qtbot, grid):
    with qtbot.waitSignal(grid.headSelected) as blocker:
        click(qtbot, grid, 2, 1)
    assert blocker.args == [2, 1]
    assert grid.selected() == (2, 1)


def test_clicking_the_mean_column_emits_head_minus_one(qtbot, grid, analysis):
    with qtbot.waitSignal(grid.headSelected) as blocker:
        click(qtbot, grid, 1, analysis.num_heads)
    assert blocker.args == [1, -1]


def test_clicking_between_thumbnails_selects_nothing(qtbot, grid):
    between = grid.canvas.cell_rect(0, 0).bottomRight() + QPoint(2, 2)
    with qtbot.assertNotEmitted(grid.headSelected):
        qtbot.mouseClick(grid.canvas, Qt.MouseButton.LeftButton, pos=between)
    assert grid.selected() is None


def test_arrow_keys_move_the_selection(qtbot, grid):
    grid.select(0, 0)
    with qtbot.waitSignal(grid.headSelected) as blocker:
        qtbot.keyClick(grid.canvas, Qt.Key.Key_Down)
    assert blocker.args == [1, 0]


def test_select_highlights_without_emitting_and_rejects_unknown_heads(qtbot, grid, analysis):
    with qtbot.assertNotEmitted(grid.headSelected):
        grid.select(1, -1)
    assert grid.selected() == (1, -1)
    painted = grid.canvas.grab().toImage()
    outline = grid.canvas.cell_rect(1, analysis.num_heads).topLeft() - QPoint(2, 2)
    assert painted.pixelColor(outline).blue() > 200
    for layer, head in [(analysis.num_layers, 0), (0, analysis.num_heads), (0, -2)]:
        with pytest.raises(ValueError):
            grid.select(layer, head)


def test_each_thumbnail_is_scaled_to_its_own_range():
    maps = np.stack([np.arange(4.0).reshape(2, 2), 1000 * np.arange(4.0).reshape(2, 2)])[None]
    lut = imaging.colormap_lut()
    colours = per_thumbnail_colours(maps.astype(np.float32), lut)
    for tile in colours[0]:
        np.testing.assert_array_equal(tile[0, 0], lut[0])
        np.testing.assert_array_equal(tile[1, 1], lut[255])


def test_the_brightest_patch_is_painted_where_the_class_token_looks(grid, analysis):
    layer, head = 2, 3
    cls = analysis.cls_attention[layer, head]
    row, col = np.unravel_index(np.argmax(cls), cls.shape)
    rect = grid.canvas.cell_rect(layer, head)
    block = rect.width() / analysis.grid_size
    point = QPoint(rect.x() + int((col + 0.5) * block), rect.y() + int((row + 0.5) * block))
    colour = grid.canvas.grab().toImage().pixelColor(point)
    brightest = imaging.colormap_lut()[255]
    assert (colour.red(), colour.green(), colour.blue()) == tuple(brightest)


def test_tooltip_names_layer_head_and_mean_distance(grid, analysis):
    centre = grid.canvas.cell_rect(0, 2).center()
    event = QHelpEvent(QEvent.Type.ToolTip, centre, grid.canvas.mapToGlobal(centre))
    QApplication.sendEvent(grid.canvas, event)
    text = QToolTip.text()
    assert "Layer 1, head 3" in text
    assert f"{analysis.mean_attention_distance[0, 2]:.1f} px" in text
    assert "own range" in text


def test_a_new_analysis_keeps_a_valid_selection(grid, analysis):
    grid.select(2, -1)
    grid.show_analysis(tiny_analysis(seed=1))
    assert grid.selected() == (2, -1)


def test_clear_empties_the_grid(grid):
    grid.select(0, 0)
    grid.clear()
    assert grid.canvas.shape() == (0, 0)
    assert grid.selected() is None
    with pytest.raises(ValueError):
        grid.select(0, 0)


@pytest.mark.parametrize(("layers", "heads"), [(12, 12), (24, 16)], ids=["ViT-B", "ViT-L"])
def test_large_models_show_every_head_and_fit_the_width(qtbot, layers, heads):
    analysis = fake_analysis(layers, heads)  # benchmarks/bench_views.py times the drawing
    grid = AttentionGrid()
    qtbot.addWidget(grid)
    grid.resize(900, 600)
    grid.show()
    grid.show_analysis(analysis)
    grid.grab()
    assert grid.canvas.shape() == (layers, heads + 1)
    assert grid.canvas.width() <= 900
