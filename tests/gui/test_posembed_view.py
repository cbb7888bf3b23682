"""The position-embedding mosaic puts each patch's similarity map in its place and picks tiles."""

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip

from tests.gui.analyses import fake_analysis, tiny_analysis
from vit_studio.gui import imaging
from vit_studio.gui.widgets.posembed_view import COLORMAP, PosEmbedMosaic


@pytest.fixture(scope="module")
def analysis():
    return tiny_analysis()


@pytest.fixture
def mosaic(qtbot, analysis):
    widget = PosEmbedMosaic()
    qtbot.addWidget(widget)
    widget.resize(520, 480)
    widget.show()
    widget.show_analysis(analysis)
    return widget


def test_clicking_a_tile_emits_its_row_major_patch_index(qtbot, mosaic, analysis):
    g = analysis.grid_size
    patch = 2 * g + 3
    with qtbot.waitSignal(mosaic.patchSelected) as blocker:
        qtbot.mouseClick(mosaic, Qt.MouseButton.LeftButton, pos=mosaic.tile_rect(patch).center())
    assert blocker.args == [patch]
    assert mosaic.highlighted() == patch


def test_every_tile_maps_back_to_its_patch(mosaic, analysis):
    for patch in range(analysis.grid_size**2):
        rect = mosaic.tile_rect(patch)
        assert mosaic.patch_at(rect.topLeft()) == patch
        assert mosaic.patch_at(rect.bottomRight()) == patch


def test_clicks_outside_the_tiles_select_nothing(qtbot, mosaic):
    outside = mosaic.tile_rect(0).topLeft() - QPoint(5, 5)
    with qtbot.assertNotEmitted(mosaic.patchSelected):
        qtbot.mouseClick(mosaic, Qt.MouseButton.LeftButton, pos=outside)


def test_each_tile_is_brightest_at_its_own_patch(mosaic, analysis):
    """Similarity of a patch to itself is 1, the top of the shared scale, in every tile."""
    g = analysis.grid_size
    image = mosaic.grab().toImage()
    top = tuple(imaging.colormap_lut(COLORMAP)[255])
    for patch in range(g * g):
        rect = mosaic.tile_rect(patch)
        row, col = divmod(patch, g)
        cell = rect.width() / g
        point = QPoint(rect.x() + int((col + 0.5) * cell), rect.y() + int((row + 0.5) * cell))
        colour = image.pixelColor(point)
        assert np.abs(np.subtract((colour.red(), colour.green(), colour.blue()), top)).max() <= 2


def test_tooltip_names_the_tile_and_the_similarity_under_the_cursor(mosaic, analysis):
    g = analysis.grid_size
    rect = mosaic.tile_rect(1 * g + 2)
    point = rect.topLeft() + QPoint(1, 1)  # inside the tile's first cell: patch (0, 0)
    event = QHelpEvent(QEvent.Type.ToolTip, point, mosaic.mapToGlobal(point))
    QApplication.sendEvent(mosaic, event)
    text = QToolTip.text()
    assert "patch row 2, column 3" in text
    assert f"{analysis.pos_similarity[1, 2, 0, 0]:.3f}" in text


def test_highlight_does_not_emit_and_clear_forgets_everything(qtbot, mosaic):
    with qtbot.assertNotEmitted(mosaic.patchSelected):
        mosaic.highlight(5)
    assert mosaic.highlighted() == 5
    mosaic.clear()
    assert mosaic.highlighted() is None
    assert mosaic.patch_at(mosaic.rect().center()) is None
    mosaic.grab()


@pytest.mark.parametrize(("image_size", "patch_size"), [(224, 16), (518, 14)], ids=["g14", "g37"])
def test_large_grids_show_a_tile_per_patch_inside_the_widget(qtbot, image_size, patch_size):
    analysis = fake_analysis(2, 2, image_size, patch_size)  # bench_views.py times the drawing
    widget = PosEmbedMosaic()
    qtbot.addWidget(widget)
    widget.resize(800, 760)
    widget.show()
    widget.show_analysis(analysis)
    widget.grab()
    g = analysis.grid_size
    assert widget.similarity().shape == (g, g, g, g)
    last = widget.tile_rect(g * g - 1)
    assert widget.rect().contains(last) and last.width() > 0
