"""Before the model: the window shows the photo alone, says what it waits for, and keeps the
map's controls off until the first analysis; pages that draw charts or fine-tune are built when
first shown."""

from __future__ import annotations

import threading

import numpy as np
from PIL import Image

from tests.gui.conftest import WAIT_MS
from vit_studio.gui.workers import model_owner

RED = (220, 30, 30)


def gated(monkeypatch, name: str) -> threading.Event:
    """Make the inference thread's `name` (load_model or analyze) wait until the event is set."""
    gate, real = threading.Event(), getattr(model_owner, name)

    def waiting(*args, **kwargs):
        assert gate.wait(WAIT_MS / 1000)
        return real(*args, **kwargs)

    monkeypatch.setattr(model_owner, name, waiting)
    return gate


def painted_colour(window) -> tuple[int, int, int]:
    canvas = window.image_view.canvas
    colour = canvas.grab().toImage().pixelColor(canvas.rect().center())
    return colour.red(), colour.green(), colour.blue()


def test_the_photo_waits_for_the_model_then_for_its_analysis(qtbot, window, model_file, tmp_path,
                                                             monkeypatch):
    photo = tmp_path / "red.png"
    Image.new("RGB", (60, 40), RED).save(photo)
    loading, analysing = gated(monkeypatch, "load_model"), gated(monkeypatch, "analyze")
    view, controls = window.image_view, window.image_controls
    window.load_model(model_file)
    window.open_image(photo)
    assert view.canvas.showing_preview() and painted_colour(window) == RED
    assert view.title() == f"Loading the model {model_file.name}…"
    assert not controls.overlay.isEnabled() and not controls.rollout.isEnabled()

    with qtbot.waitSignal(window.modelReady, timeout=WAIT_MS):
        loading.set()
    assert view.canvas.showing_preview() and view.title() == "Analysing red.png…"
    with qtbot.waitSignal(window.analysisReady, timeout=WAIT_MS):
        analysing.set()
    assert not view.canvas.showing_preview() and window.view_map is not None
    assert view.title() == window.state.overlay.title
    assert controls.overlay.isEnabled() and controls.rollout.isEnabled()


def test_without_a_model_the_photo_says_how_to_get_one(window, tmp_path):
    photo = tmp_path / "red.png"
    Image.new("RGB", (60, 40), RED).save(photo)
    window.open_image(photo)
    assert painted_colour(window) == RED
    assert window.image_view.title() == (
        "red.png will be analysed once a model is open: Model ▸ Open Model…"
    )


def test_a_photo_that_cannot_be_shown_leaves_the_words_alone(window, model_file, tmp_path,
                                                              monkeypatch):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not really a jpeg")
    loading = gated(monkeypatch, "load_model")
    window.load_model(model_file)
    window.open_image(broken)
    assert not window.image_view.canvas.showing_preview()
    assert window.image_view.title() == ""  # the words stand where the photo would
    loading.set()


def test_chart_pages_are_built_when_first_shown_with_the_analysis_on_screen(loaded):
    views = loaded.views
    later = ("distance", "norms", "lens", "trust", "finetune")
    assert not any(views.is_built(view) for view in later)
    loaded.show_view("distance")
    assert views.is_built("distance") and views.is_fresh(views.distance)
    analysis = loaded.result.analysis
    dots = views.distance.axes.collections[1].get_offsets()  # head 0, one dot per layer
    np.testing.assert_allclose(dots[:, 1], analysis.mean_attention_distance[:, 0])
    assert not views.is_built("finetune")
    assert loaded.finetune_panel is views.finetune and views.is_built("finetune")
