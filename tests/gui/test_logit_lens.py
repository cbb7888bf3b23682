"""The Lens tab: the class token after each block read through the head, for the final top
classes, drawn from the analysis (the model does not run again)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.gui.analyses import fake_analysis
from tests.gui.charts import SIDE_VIEW_WIDTHS, drawn
from vit_studio.gui.widgets.logit_lens import LogitLensView


def test_the_lens_shows_each_layers_probabilities_of_the_final_top_classes(loaded):
    loaded.show_view("lens")
    analysis = loaded.result.analysis
    top = [p.index for p in analysis.top_k(5)]
    lens = loaded.views.lens
    np.testing.assert_array_equal(lens.shown(), analysis.logit_lens[:, top])
    assert lens.classes() == tuple(analysis.class_names[i] for i in top)
    np.testing.assert_allclose(lens.shown()[-1], analysis.probs[top], atol=1e-6)


def test_a_deeper_model_gets_a_row_per_block(qtbot):
    view = LogitLensView()
    qtbot.addWidget(view)
    analysis = fake_analysis(layers=12, heads=3)
    view.show_analysis(analysis)
    assert view.shown().shape == (12, 5)


@pytest.mark.parametrize("width", SIDE_VIEW_WIDTHS)
def test_the_title_and_every_label_read_whole_in_the_side_column(qtbot, width):
    view = LogitLensView()
    qtbot.addWidget(view)
    view.resize(width, 500)
    view.show()
    view.show_analysis(fake_analysis(layers=12, heads=3))
    renderer = drawn(view.canvas)
    figure_box = view.figure.bbox
    (axes, _colour_bar) = view.figure.axes
    texts = [axes.title, axes.yaxis.label, *axes.get_xticklabels(), *axes.get_yticklabels()]
    for text in texts:
        box = text.get_window_extent(renderer)
        assert figure_box.x0 <= box.x0 and box.x1 <= figure_box.x1, text.get_text()
        assert figure_box.y0 <= box.y0 and box.y1 <= figure_box.y1, text.get_text()
