"""The fine-tune panel's parts in the explorer's side column (about 500 pixels at 1280×800, 800
at 1920×1080): legends under the charts and inside them, a long folder name shortened in its
middle rather than widening the panel, a long status line wrapped."""

from __future__ import annotations

import itertools

import pytest
from PySide6.QtWidgets import QApplication

from tests.gui.charts import drawn, overlap
from tests.gui.test_epoch_scrubber import snapshot
from vit_studio.gui.finetune.curves import TrainingCurves
from vit_studio.gui.finetune.folder_row import ElidedLabel, FolderRow
from vit_studio.gui.finetune.results import ClassAccuracyChart
from vit_studio.gui.finetune.run_bar import RunBar
from vit_studio.gui.finetune.scan_report import ClassCountChart

PANEL_WIDTHS = (480, 800)


def shown(qtbot, widget, width: int, height: int = 300):
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    QApplication.processEvents()
    return widget


def assert_legend_beside_the_charts(canvas) -> None:
    """The legend inside the figure and over none of its charts."""
    renderer = drawn(canvas)
    figure = canvas.figure
    (legend,) = figure.legends
    box = legend.get_window_extent(renderer)
    assert figure.bbox.x0 <= box.x0 and box.x1 <= figure.bbox.x1
    for axes in figure.axes:
        assert not overlap(box, axes.get_window_extent(renderer))


@pytest.mark.parametrize("width", PANEL_WIDTHS)
def test_the_training_curves_keep_their_legend_and_labels_in_sight(qtbot, width):
    curves = shown(qtbot, TrainingCurves(), width, 240)
    curves.add_epoch(snapshot(1).info)
    assert_legend_beside_the_charts(curves.canvas)
    assert curves.legend_columns() == (2 if width < 640 else 4)
    renderer = curves.canvas.get_renderer()
    for axes in curves.axes():
        label = axes.yaxis.label.get_window_extent(renderer)
        assert label.x0 >= 0, axes.get_ylabel()


@pytest.mark.parametrize("width", PANEL_WIDTHS)
def test_the_bar_charts_put_their_legends_under_the_bars(qtbot, width):
    counts = shown(qtbot, ClassCountChart(), width)
    counts.show_counts({"cat": (16, 4), "dog": (16, 4), "ship": (16, 4)})
    assert_legend_beside_the_charts(counts.canvas)
    accuracy = shown(qtbot, ClassAccuracyChart(), width)
    accuracy.show_epoch(1, snapshot(1).confusion, ("cat", "dog"), baseline=0.4)
    assert_legend_beside_the_charts(accuracy.canvas)
    accuracy.clear()
    assert not accuracy.figure.legends


def test_a_long_folder_name_is_shortened_in_its_middle_not_widening_the_panel(qtbot):
    row = shown(qtbot, FolderRow(), 400, 40)
    folder = "/home/someone/pictures/" + "a-very-long-folder-name/" * 6 + "birds"
    row.show_folder(folder)
    QApplication.processEvents()
    label = row.findChild(ElidedLabel)
    assert row.minimumSizeHint().width() <= 400 and row.width() == 400
    assert "…" in label.text() and label.text().endswith("birds")
    assert row.folder_text() == folder and label.toolTip() == folder


def test_a_long_status_wraps_rather_than_widening_the_panel(qtbot):
    bar = shown(qtbot, RunBar(), 480, 80)
    narrow = bar.minimumSizeHint().width()
    bar.set_status("Epoch 12/60 · step 300/310 · loss 0.345 · accuracy 91% · 1,234 images/s · "
                   "12:34 left — paused")  # fmt: skip
    assert bar.minimumSizeHint().width() == narrow <= 480


@pytest.mark.parametrize("width", PANEL_WIDTHS)
def test_the_epoch_ticks_do_not_crowd_a_long_run(qtbot, width):
    curves = shown(qtbot, TrainingCurves(), width, 240)
    curves.reset(60)
    renderer = drawn(curves.canvas)
    for axes in curves.axes():
        boxes = [label.get_window_extent(renderer) for label in axes.get_xticklabels()
                 if label.get_text() and axes.get_xlim()[0] <= label.get_position()[0]
                 <= axes.get_xlim()[1]]  # fmt: skip
        assert len(boxes) >= 3
        assert all(a.x1 < b.x0 for a, b in itertools.pairwise(boxes)), axes.get_title()
