"""The Trust tab: every attribution map of the image shown, scored by perturbation in the
inference worker, with progress and cancel; new images and models clear the old scores."""

from __future__ import annotations

from tests.gui.conftest import WAIT_MS
from vit_studio.engine.explain.evaluate import score_image
from vit_studio.engine.explain.faithfulness import AUC_NAMES
from vit_studio.engine.explain.methods import METHODS
from vit_studio.engine.images import open_image, prepare_image
from vit_studio.gui.trust import CANCELLED_TEXT


def test_scoring_shows_every_methods_aucs_as_the_engine_computes_them(qtbot, loaded, tiny_model):
    trust = loaded.views.trust
    loaded.show_view("trust")
    with qtbot.waitSignal(trust.scoresShown, timeout=WAIT_MS):
        trust.scoreRequested.emit()
    scores = trust.scores()
    assert list(scores.curves) == list(METHODS)
    assert scores.predicted == loaded.result.analysis.top_k(1)[0].index
    # The same numbers as the engine's own scoring of the same image and model.
    prepared = prepare_image(open_image(loaded.result.path), tiny_model.meta.preprocessing)
    expected = score_image(tiny_model, prepared.tensor)
    for row, name in enumerate(METHODS):
        assert trust.table_text(row, 0) == name
        for column, auc in enumerate(AUC_NAMES, start=1):
            value = expected.curves[name].aucs()[auc]
            shown = trust.table_text(row, column)
            assert shown.split()[0] == (f"{value:.1f}" if column <= 2 else f"{value:.3f}")
            assert shown.endswith("★") == (name in expected.best(auc))


def test_a_new_image_clears_the_scores_of_the_last_one(qtbot, loaded, images):
    trust = loaded.views.trust
    with qtbot.waitSignal(trust.scoresShown, timeout=WAIT_MS):
        trust.scoreRequested.emit()
    with qtbot.waitSignal(loaded.analysisReady, timeout=WAIT_MS):
        loaded.open_image(images[1])
    assert trust.scores() is None


def test_cancel_stops_the_scoring_and_says_so(qtbot, loaded, monkeypatch):
    trust = loaded.views.trust
    trust.scoreRequested.emit()
    assert trust.running
    trust.cancelRequested.emit()
    assert not trust.running and trust.status_text() == CANCELLED_TEXT
    qtbot.waitUntil(lambda: not loaded.busy, timeout=WAIT_MS)
    assert trust.scores() is None  # what the cancelled job still returns is dropped
