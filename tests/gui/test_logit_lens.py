"""The Lens tab: the class token after each block read through the head, for the final top
classes, drawn from the analysis (the model does not run again)."""

from __future__ import annotations

import numpy as np

from tests.gui.analyses import fake_analysis
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
