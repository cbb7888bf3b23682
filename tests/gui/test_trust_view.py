"""The Trust tab: every attribution map of the image shown, or of every image of the folder
shown with intervals, scored by perturbation in the inference worker, with progress and cancel;
new images and models clear the old scores."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QApplication, QStyle

from tests.conftest import write_image
from tests.gui.charts import SIDE_VIEW_WIDTHS, drawn, overlap
from tests.gui.conftest import WAIT_MS
from vit_studio.engine.explain.evaluate import evaluate_faithfulness, score_image, summarise
from vit_studio.engine.explain.faithfulness import AUC_NAMES
from vit_studio.engine.explain.methods import METHODS
from vit_studio.engine.images import open_image, prepare_image
from vit_studio.gui.trust import CANCELLED_TEXT, FOLDER_NEEDED
from vit_studio.gui.widgets.auc_tables import BREAK
from vit_studio.gui.widgets.folder_scores import FolderTable
from vit_studio.gui.widgets.trust_view import AucTable, TrustView


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


def test_new_images_do_not_rebuild_a_chart_that_shows_no_scores(qtbot, loaded, images):
    # Each image cleared the view, and rebuilt and redrew its empty chart on the GUI thread.
    trust = loaded.views.trust
    loaded.show_view("trust")
    rebuilt = []
    trust.figure.add_subplot = lambda *args, **kwargs: rebuilt.append(args)
    for image in images[1:]:
        with qtbot.waitSignal(loaded.analysisReady, timeout=WAIT_MS):
            loaded.open_image(image)
    assert rebuilt == [] and trust.scores() is None


def test_cancel_stops_the_scoring_and_says_so(qtbot, loaded, monkeypatch):
    trust = loaded.views.trust
    trust.scoreRequested.emit()
    assert trust.running
    trust.cancelRequested.emit()
    assert not trust.running and trust.status_text() == CANCELLED_TEXT
    qtbot.waitUntil(lambda: not loaded.busy, timeout=WAIT_MS)
    assert trust.scores() is None  # what the cancelled job still returns is dropped


@pytest.mark.parametrize("width", SIDE_VIEW_WIDTHS)
def test_the_curves_and_tables_read_whole_in_the_side_column(qtbot, tiny_model, photo, width):
    prepared = prepare_image(open_image(photo), tiny_model.meta.preprocessing)
    trust = TrustView()
    qtbot.addWidget(trust)
    trust.resize(width, 1000)
    trust.show()
    trust.show_scores(score_image(tiny_model, prepared.tensor))
    rng = np.random.default_rng(0)
    per_image = {name: rng.uniform(0.0, 90.0, size=(20, 4)) for name in METHODS}
    trust.show_folder_scores(summarise("tiny", per_image), "photos")
    QApplication.processEvents()

    figure = trust.figure
    renderer = drawn(trust.canvas)
    legend = figure.legends[0].get_window_extent(renderer)
    titles = [axes.title.get_window_extent(renderer) for axes in figure.axes]
    for axes, title in zip(figure.axes, titles, strict=True):
        assert not overlap(legend, axes.get_window_extent(renderer)), axes.get_title()
        assert figure.bbox.x0 <= title.x0 and title.x1 <= figure.bbox.x1, axes.get_title()
    assert not overlap(titles[0], titles[1]) and not overlap(titles[2], titles[3])

    for table in [*trust.findChildren(AucTable), *trust.findChildren(FolderTable)]:
        assert table.horizontalHeader().length() <= table.viewport().width()  # no scrolling
        for row in range(table.rowCount()):
            item = table.item(row, 0)
            # The room a cell leaves for its text, as the item view's delegate lays it out.
            margin = table.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin) + 1
            room = table.visualItemRect(item).adjusted(margin, 0, -margin, 0)
            metrics = QFontMetrics(item.font())
            widest = max(metrics.horizontalAdvance(part) for part in item.text().split(BREAK))
            wrapped = metrics.boundingRect(QRect(0, 0, room.width(), 0),
                                           Qt.TextFlag.TextWordWrap, item.text())  # fmt: skip
            assert widest <= room.width() and wrapped.height() <= room.height(), item.text()


def test_scoring_the_folder_shows_every_methods_means_intervals_and_verdicts(
    qtbot, loaded, tiny_model, images
):
    with qtbot.waitSignal(loaded.analysisReady, timeout=WAIT_MS):
        loaded.open_folder(images[0].parent)
    trust = loaded.views.trust
    with qtbot.waitSignal(trust.folderScoresShown, timeout=WAIT_MS):
        trust.scoreFolderRequested.emit()
    report = trust.folder_report()
    expected = evaluate_faithfulness(tiny_model, images)  # the engine on the same images
    assert report.images == 3 and list(report.methods) == list(METHODS)
    for row, name in enumerate(METHODS):
        assert trust.folder_text(row, 0) == name
        for column, auc in enumerate(AUC_NAMES, start=1):
            mean = expected.methods[name][auc]
            low, high = expected.intervals[name][auc]
            digits = 1 if column <= 2 else 3
            first, second = trust.folder_text(row, column).split("\n")
            assert first.split()[0] == f"{mean:.{digits}f}"
            assert second == f"[{low:.{digits}f}, {high:.{digits}f}]"
            if name != "random":
                verdict = expected.versus_random[name][auc].verdict
                assert first.split()[1] == {"better": "✓", "tie": "≈", "worse": "✗"}[verdict]
    assert trust.folder_status_text().startswith(f"3 images of {images[0].parent}")
    assert "Transformer attribution from layer 1." in trust.folder_status_text()


def test_an_image_alone_in_its_folder_is_no_folder_to_score(qtbot, loaded, tmp_path):
    alone = write_image(tmp_path / "alone" / "one.png")
    with qtbot.waitSignal(loaded.analysisReady, timeout=WAIT_MS):
        loaded.open_image(alone)
    trust = loaded.views.trust
    trust.scoreFolderRequested.emit()
    assert not trust.running and trust.status_text() == FOLDER_NEEDED
