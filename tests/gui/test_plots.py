"""The embedded charts plot what the analysis holds, with labelled axes, and redraw cheaply."""

import numpy as np
import pytest
from matplotlib._pylab_helpers import Gcf
from matplotlib.layout_engine import ConstrainedLayoutEngine
from PySide6.QtCore import QPoint, Qt

from tests.gui.analyses import fake_analysis, tiny_analysis
from vit_studio.gui.widgets.logit_lens import LogitLensView
from vit_studio.gui.widgets.plots import MeanDistancePlot, TokenNormMap


@pytest.fixture(scope="module")
def analysis():
    return tiny_analysis()


@pytest.fixture
def distance_plot(qtbot):
    widget = MeanDistancePlot()
    qtbot.addWidget(widget)
    widget.resize(640, 460)
    widget.show()
    return widget


@pytest.fixture
def norm_map(qtbot):
    widget = TokenNormMap()
    qtbot.addWidget(widget)
    widget.resize(800, 420)
    widget.show()
    return widget


def test_figures_stay_out_of_pyplots_global_registry(distance_plot, norm_map):
    """pyplot would register each figure globally, keeping it alive after its widget is gone."""
    registered = {manager.canvas.figure for manager in Gcf.get_all_fig_managers()}
    assert distance_plot.figure not in registered
    assert norm_map.figure not in registered


def test_one_dot_per_layer_and_head_at_its_distance(distance_plot, analysis):
    distance_plot.show_analysis(analysis)
    assert distance_plot.point_count() == analysis.num_layers * analysis.num_heads
    legend = distance_plot.axes.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        f"Head {h + 1}" for h in range(analysis.num_heads)
    ]
    head = 2
    dots = distance_plot.axes.collections[1 + head].get_offsets()
    np.testing.assert_allclose(dots[:, 0], np.arange(1, analysis.num_layers + 1))
    np.testing.assert_allclose(dots[:, 1], analysis.mean_attention_distance[:, head])


def test_distance_axes_are_labelled_and_span_the_image(distance_plot, analysis):
    distance_plot.show_analysis(analysis)
    axes = distance_plot.axes
    assert "depth" in axes.get_xlabel().lower()
    assert "pixels" in axes.get_ylabel()
    assert axes.get_title()
    assert axes.get_ylim()[0] == 0
    assert axes.get_ylim()[1] >= analysis.image_size


def test_selecting_a_head_rings_its_dot(distance_plot, analysis):
    distance_plot.show_analysis(analysis)
    distance_plot.select(1, 3)
    ring = distance_plot.axes.collections[0].get_offsets()
    np.testing.assert_allclose(ring, [[2, analysis.mean_attention_distance[1, 3]]])


def test_distance_plot_clears_and_refills_with_another_head_count(distance_plot, analysis):
    distance_plot.show_analysis(analysis)
    distance_plot.clear()
    assert distance_plot.point_count() == 0
    assert distance_plot.axes.get_legend() is None
    distance_plot.canvas.draw()
    bigger = fake_analysis(layers=4, heads=6, image_size=64, patch_size=16)
    distance_plot.show_analysis(bigger)
    assert distance_plot.point_count() == 24
    assert len(distance_plot.axes.get_legend().get_texts()) == 6


def test_norm_map_starts_at_the_last_layer(norm_map, analysis):
    norm_map.show_analysis(analysis)
    last = analysis.num_layers - 1
    assert norm_map.layer() == last
    shown = norm_map.map_axes.images[0].get_array()
    np.testing.assert_allclose(shown, analysis.patch_token_norms()[last])
    assert norm_map.map_axes.get_title().endswith(f"layer {last + 1}")


def test_norm_lines_are_each_layers_max_and_median(norm_map, analysis):
    norm_map.show_analysis(analysis)
    flat = analysis.patch_token_norms().reshape(analysis.num_layers, -1)
    max_line, median_line = norm_map.line_axes.get_lines()[:2]
    np.testing.assert_allclose(max_line.get_ydata(), flat.max(axis=1))
    np.testing.assert_allclose(median_line.get_ydata(), np.median(flat, axis=1))
    for axes in (norm_map.map_axes, norm_map.line_axes):
        assert axes.get_xlabel() and axes.get_ylabel() and axes.get_title()


def test_layer_changes_with_set_layer_and_with_a_click_on_the_line_chart(qtbot, norm_map, analysis):
    norm_map.show_analysis(analysis)
    norm_map.set_layer(0)
    np.testing.assert_allclose(
        norm_map.map_axes.images[0].get_array(), analysis.patch_token_norms()[0]
    )
    norm_map.canvas.draw()
    x, y = norm_map.line_axes.transData.transform((2, 1.0))
    ratio = norm_map.canvas.device_pixel_ratio
    point = QPoint(round(x / ratio), round(norm_map.canvas.height() - y / ratio))
    qtbot.mouseClick(norm_map.canvas, Qt.MouseButton.LeftButton, pos=point)
    assert norm_map.layer() == 1


def test_norm_map_clears(norm_map, analysis):
    norm_map.show_analysis(analysis)
    norm_map.clear()
    assert not norm_map.map_axes.images[0].get_visible()
    assert len(norm_map.line_axes.get_lines()[0].get_xdata()) == 0
    norm_map.canvas.draw()


def test_a_vit_b_sized_analysis_shows_every_head_and_token(distance_plot, norm_map):
    vit_b = fake_analysis()  # 12 layers x 12 heads, 197 tokens (benchmarks/bench_views.py times it)
    distance_plot.show_analysis(vit_b)
    norm_map.show_analysis(vit_b)
    norm_map.set_layer(3)
    distance_plot.canvas.draw()
    norm_map.canvas.draw()
    assert distance_plot.point_count() == 12 * 12
    np.testing.assert_allclose(
        norm_map.map_axes.images[0].get_array(), vit_b.patch_token_norms()[3]
    )


def test_a_hidden_chart_draws_only_once_it_is_shown(qtbot, analysis):
    widget = MeanDistancePlot()
    qtbot.addWidget(widget)
    draws = []
    widget.canvas.mpl_connect("draw_event", draws.append)
    widget.show_analysis(analysis)
    widget.canvas.draw()  # what a data update or a resize of a hidden tab would trigger
    assert draws == []
    widget.resize(640, 460)
    widget.show()
    qtbot.waitUntil(lambda: len(draws) == 1)


@pytest.fixture
def layouts(monkeypatch) -> list:
    """Every constrained layout solved (the costly half of a draw)."""
    solved = []
    real = ConstrainedLayoutEngine.execute
    monkeypatch.setattr(ConstrainedLayoutEngine, "execute",
                        lambda self, figure: (solved.append(figure), real(self, figure))[1])
    return solved


@pytest.mark.parametrize("make", [MeanDistancePlot, TokenNormMap, LogitLensView])
def test_a_new_image_of_the_same_model_keeps_the_charts_layout(qtbot, layouts, make):
    # Laying out again for every image cost each analysis as much as its drawing.
    widget = make()
    qtbot.addWidget(widget)
    widget.resize(640, 460)
    widget.show()
    widget.show_analysis(tiny_analysis(seed=0))
    widget.canvas.draw()
    assert len(layouts) == 1
    widget.show_analysis(tiny_analysis(seed=1))
    widget.canvas.draw()
    assert len(layouts) == 1
    widget.show_analysis(fake_analysis(layers=12, heads=3))  # more rows, more heads: anew
    widget.canvas.draw()
    assert len(layouts) == 2


def test_the_lens_cells_and_classes_follow_each_new_image(qtbot):
    view = LogitLensView()
    qtbot.addWidget(view)
    view.resize(640, 460)
    view.show()
    for seed in (0, 1):
        analysis = fake_analysis(layers=4, heads=2, seed=seed)
        view.show_analysis(analysis)
        view.canvas.draw()
        axes = view.figure.axes[0]
        cells = [text.get_text() for text in axes.texts]
        assert cells == [f"{value:.0%}" for value in view.shown().ravel()]
        assert [label.get_text() for label in axes.get_xticklabels()] == list(view.classes())
        np.testing.assert_array_equal(axes.images[0].get_array(), view.shown())
