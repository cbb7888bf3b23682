"""Predictions, model card and filmstrip: what they show and what they report."""

from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, QSize, QSizeF, Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from tests.conftest import TINY_ARCH, write_image
from tests.gui.analyses import tiny_analysis
from tests.gui.conftest import WAIT_MS
from vit_studio.engine.checkpoints.discovery import LocalModel
from vit_studio.gui.state.results import ModelSummary
from vit_studio.gui.widgets.filmstrip import THUMBNAIL_SIZE, Filmstrip, image_files_in
from vit_studio.gui.widgets.model_panel import ModelPanel, format_count
from vit_studio.gui.widgets.predictions import PredictionsView


def test_predictions_show_the_top_k_and_report_the_clicked_class(qtbot):
    view = PredictionsView()
    qtbot.addWidget(view)
    view.resize(400, 300)
    view.show()
    analysis = tiny_analysis()
    top = analysis.top_k(5)
    view.show_analysis(analysis, chosen=top[0].index)
    assert [p.index for p in view.bars.predictions()] == [p.index for p in top]
    with qtbot.waitSignal(view.classChosen) as chosen:
        QTest.mouseClick(view.bars, Qt.MouseButton.LeftButton, pos=view.bars.row_rect(2).center())
    assert chosen.args == [top[2].index]


def test_model_card_and_local_models(qtbot, tmp_path):
    panel = ModelPanel()
    qtbot.addWidget(panel)
    local = LocalModel(tmp_path / "m.safetensors", "vit_studio", "mine", TINY_ARCH, "bundled")
    panel.show_local_models([local])
    with qtbot.waitSignal(panel.modelChosen) as chosen:
        panel.local_models.setCurrentRow(0)
        panel.open_button.click()
    assert chosen.args == [tmp_path / "m.safetensors"]
    assert format_count(86_567_656) == "86.6 M" and format_count(999) == "999"


def test_a_long_model_path_wraps_in_the_card_rather_than_widening_the_side_column(qtbot):
    panel = ModelPanel()
    qtbot.addWidget(panel)
    path = Path("/home/someone/.cache/huggingface/hub/" + "models--org--a-long-name/" * 5)
    name = "vit_base_patch16_224.augreg2_in21k_ft_in1k"
    panel.show_model(ModelSummary(path / "model.safetensors", name, TINY_ARCH, ("a", "b"), 1000,
                                  40, "cpu", "CPU (1 thread)"))  # fmt: skip
    panel.resize(300, 600)
    panel.show()
    assert panel.minimumSizeHint().width() <= 300
    assert panel.field("file") == str(path / "model.safetensors") and panel.field("name") == name


@pytest.fixture
def filmstrip():
    """Filmstrips made by a test, whose thumbnail threads are stopped when it ends."""
    made = []

    def make(qtbot) -> Filmstrip:
        strip = Filmstrip()
        qtbot.addWidget(strip)
        made.append(strip)
        return strip

    yield make
    assert all(strip.stop() for strip in made)


def test_filmstrip_lists_images_only_and_steps_through_them(qtbot, tmp_path, filmstrip):
    paths = [write_image(tmp_path / f"{name}.png") for name in ("b", "a", "c")]
    (tmp_path / ".hidden.png").write_bytes(paths[0].read_bytes())
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    files = image_files_in(tmp_path)
    assert files == sorted(paths)
    strip = filmstrip(qtbot)
    strip.set_paths(files, current=files[1])
    assert strip.currentRow() == 1
    with qtbot.waitSignal(strip.imageChosen) as chosen:
        strip.step(1)
    assert chosen.args == [files[2]]
    with qtbot.assertNotEmitted(strip.imageChosen):
        strip.step(1)  # already at the end
        strip.set_current(files[0])  # programmatic selection does not emit
    strip.set_thumbnail(0, QImage())
    assert "cannot be read" in strip.item(0).toolTip()
    assert strip.paths() == files and isinstance(strip.paths()[0], Path)


@pytest.mark.parametrize("count", [0, 1])
def test_filmstrip_handles_tiny_folders(qtbot, tmp_path, count, filmstrip):
    files = [write_image(tmp_path / f"{i}.png") for i in range(count)]
    strip = filmstrip(qtbot)
    strip.set_paths(files)
    strip.step(-1)
    assert strip.currentRow() == (0 if count else -1)


def shown_thumbnail(strip: Filmstrip, row: int):
    """The thumbnail as the strip paints it on a screen of its pixel ratio."""
    size = QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE)
    return strip.item(row).icon().pixmap(size, strip.pixel_ratio())


def test_filmstrip_thumbnails_have_the_screens_device_pixels(
    qtbot, tmp_path, filmstrip, monkeypatch
):
    # The offscreen platform has ratio 1; a Retina screen's 2 is stood in for.
    ratio = {"now": 2.0}
    monkeypatch.setattr(Filmstrip, "pixel_ratio", lambda _strip: ratio["now"])
    large = write_image(tmp_path / "large.png", size=(600, 400))
    small = write_image(tmp_path / "small.png", size=(32, 32), seed=1)
    strip = filmstrip(qtbot)
    strip.set_paths([large, small])

    def sharp_at(expected_ratio: float) -> None:
        sharp = shown_thumbnail(strip, 0)
        assert sharp.devicePixelRatio() == expected_ratio
        width = round(expected_ratio * THUMBNAIL_SIZE)
        assert (sharp.width(), sharp.height()) == (width, width * 2 // 3)

    qtbot.waitUntil(lambda: sharp_at(2.0), timeout=WAIT_MS)
    # A small picture keeps the size it had at ratio 1, all its pixels shown, rather than shrink.
    qtbot.waitUntil(lambda: shown_thumbnail(strip, 1).deviceIndependentSize() == QSizeF(32, 32),
                    timeout=WAIT_MS)  # fmt: skip

    ratio["now"] = 1.0  # the window moved to an ordinary screen
    QApplication.sendEvent(strip, QEvent(QEvent.Type.DevicePixelRatioChange))
    qtbot.waitUntil(lambda: sharp_at(1.0), timeout=WAIT_MS)
