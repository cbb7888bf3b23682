"""Head ablation in the explorer: Ctrl-click a head under Attention, and Predictions shows the
prediction without it beside the original, as the engine computes it."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from tests.gui.conftest import WAIT_MS
from vit_studio.engine.explain.ablation import ablated_probs
from vit_studio.engine.images import open_image, prepare_image


def ctrl_click_head(qtbot, window, layer: int, head: int) -> None:
    window.show_view("attention")
    canvas = window.views.attention._canvas
    qtbot.waitUntil(lambda: canvas._data is not None, timeout=WAIT_MS)  # drawn once shown
    centre = canvas.cell_rect(layer, head).center()
    QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     QPoint(centre.x(), centre.y()))  # fmt: skip


def test_ctrl_clicking_a_head_shows_the_prediction_without_it(qtbot, loaded, tiny_model):
    selected = (loaded.state.layer, loaded.state.head)
    with qtbot.waitSignal(loaded._inference.ablationReady, timeout=WAIT_MS) as ready:
        ctrl_click_head(qtbot, loaded, 1, 2)
    assert loaded.knocked_out_heads() == ((1, 2),)
    path, heads, probs = ready.args
    prepared = prepare_image(open_image(path), tiny_model.meta.preprocessing)
    expected = ablated_probs(tiny_model, prepared.tensor, [(1, 2)])
    assert abs(probs - expected).max() < 1e-6
    text = loaded.views.predictions.ablation_text()
    assert "L2 H3 knocked out" in text
    top = loaded.result.analysis.top_k(1)[0]
    assert f"{top.label} {top.probability:.1%} → {expected[top.index]:.1%}" in text
    assert (loaded.state.layer, loaded.state.head) == selected  # Ctrl-click selects nothing


def test_ctrl_clicking_it_again_puts_it_back_and_a_new_image_forgets(qtbot, loaded, images):
    with qtbot.waitSignal(loaded._inference.ablationReady, timeout=WAIT_MS):
        ctrl_click_head(qtbot, loaded, 0, 0)
    ctrl_click_head(qtbot, loaded, 0, 0)
    assert loaded.knocked_out_heads() == ()
    assert loaded.views.predictions.ablation_text() == ""
    with qtbot.waitSignal(loaded._inference.ablationReady, timeout=WAIT_MS):
        ctrl_click_head(qtbot, loaded, 0, 1)
    with qtbot.waitSignal(loaded.analysisReady, timeout=WAIT_MS):
        loaded.open_image(images[1])
    assert loaded.knocked_out_heads() == ()
    assert loaded.views.predictions.ablation_text() == ""
