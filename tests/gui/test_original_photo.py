"""The photo behind the model's input travels with each analysis: the worker keeps it (with where
the crop was cut), the JSON export says where, the view PNG shows what the view shows, and the
view's choices (photo or model input, blocky or smooth) are remembered."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QImage

from tests.conftest import write_image
from tests.gui.conftest import WAIT_MS, make_settings
from vit_studio.engine.crop import crop_geometry, original_image
from vit_studio.engine.images import prepare_image
from vit_studio.engine.model import Preprocessing
from vit_studio.gui.exports import Exports
from vit_studio.gui.state.explorer import ExplorerState
from vit_studio.gui.state.export import crop_record
from vit_studio.gui.state.results import ImageResult
from vit_studio.gui.widgets.image_view import ImageView
from vit_studio.gui.widgets.status_bar import StatusBar
from vit_studio.gui.workers.inference import InferenceClient


@pytest.fixture
def client(qtbot):
    client = InferenceClient(num_threads=1)
    yield client
    assert client.stop()


def test_an_analysis_carries_the_photo_and_where_its_input_was_cut(
    qtbot, client, model_file, tmp_path
):
    path = write_image(tmp_path / "wide.png", size=(90, 50), seed=3)
    with qtbot.waitSignal(client.modelReady, timeout=WAIT_MS) as ready:
        client.load_model(model_file, "cpu")
    with qtbot.waitSignal(client.analysisReady, timeout=WAIT_MS) as analysed:
        client.analyze(path)
    result, summary = analysed.args[0], ready.args[0]
    original = result.original
    np.testing.assert_array_equal(original.pixels, np.asarray(Image.open(path).convert("RGB")))
    assert original.source_size == (90, 50)
    assert original.geometry.grid_size == result.analysis.grid_size == summary.arch.grid_size
    # The same crop the model's input was cut with (see tests/engine/test_crop.py).
    pre = Preprocessing(resize_size=summary.resize_size, crop_size=summary.arch.image_size)
    assert original.geometry == crop_geometry(90, 50, pre, summary.arch.grid_size)


def test_the_json_export_says_where_the_crop_lies_in_the_files_pixels():
    pre = Preprocessing(resize_size=36, crop_size=32)
    photo = Image.new("RGB", (640, 400))
    shrunk = original_image(photo, pre, 4, max_side=100)  # kept small, geometry along
    result = ImageResult(None, None, "cpu", 0.0, 0.0, original=shrunk)
    record = crop_record(result)
    expected = crop_geometry(640, 400, pre, 4).crop
    assert record["photo_size"] == [640, 400] and record["grid_size"] == 4
    assert record["box"] == pytest.approx(expected, abs=0.01)
    assert crop_record(ImageResult(None, None, "cpu", 0.0, 0.0)) is None


def test_the_view_png_shows_what_the_view_shows(qtbot, tmp_path):
    pre = Preprocessing(resize_size=36, crop_size=32)
    photo = Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 320, 3), np.uint8))
    view, other = ImageView(), ImageView(controls=False)
    for widget in (view, other):
        qtbot.addWidget(widget)
        widget.resize(420, 380)
        widget.show()
    view.set_image(prepare_image(photo, pre).pixels, 4, original_image(photo, pre, 4))
    exports = Exports(ExplorerState(), StatusBar(), lambda: [])
    written = []
    exports.written.connect(lambda path, _message: written.append(path))
    for model_input in (False, True):
        view.set_show_model_input(model_input)
        path = tmp_path / f"view-{model_input}.png"
        with qtbot.waitSignal(exports.written, timeout=WAIT_MS):  # written in its own thread
            exports.view_png(path, view, other, view.palette().window().color())
        saved = QImage(str(path))
        shown = view.grab().toImage().convertToFormat(saved.format())
        assert saved.copy(0, 0, shown.width(), shown.height()) == shown, model_input
    assert len(written) == 2
    assert exports.stop()


def test_the_photo_and_smooth_choices_are_remembered(tmp_path):
    settings = make_settings(tmp_path / "settings.ini")
    assert not settings.show_model_input and not settings.smooth_map  # photo, blocky
    settings.show_model_input = True
    settings.smooth_map = True
    settings.sync()
    again = make_settings(tmp_path / "settings.ini")
    assert again.show_model_input and again.smooth_map
