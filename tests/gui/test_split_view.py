"""The split view: a second pane beside the explorer's, each with its own controls, showing the
same model and image until told otherwise, with the selected patch kept at the same place in
both."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QComboBox

from tests.conftest import TINY_ARCH, random_model
from tests.gui.conftest import WAIT_MS, open_window
from vit_studio.engine.model import Preprocessing, make_model, save_model
from vit_studio.gui.state.overlay import MEAN_HEAD


def split(qtbot, window):
    """Open the split view and wait for its pane to show the left pane's image."""
    window.set_split(True)
    compare = window.split_view.compare
    qtbot.waitUntil(lambda: compare.state.result is not None and not compare.busy, timeout=WAIT_MS)
    return compare


def click_patch(qtbot, view, patch: int) -> None:
    """Click the middle of `patch` on the picture, as a user would."""
    canvas = view.canvas
    qtbot.waitUntil(lambda: canvas.width() > 0)
    with qtbot.waitSignal(view.patchClicked, timeout=WAIT_MS):
        QTest.mouseClick(canvas, Qt.MouseButton.LeftButton,
                         pos=canvas.patch_rect(patch).center().toPoint())  # fmt: skip


def test_the_split_shows_the_same_model_and_image_beside_the_first(qtbot, loaded, images):
    compare = split(qtbot, loaded)
    assert loaded.menus.split_view.isChecked() and compare.isVisible()
    assert compare.state.result.path == images[0]
    assert compare.state.model.path == loaded.model_summary.path
    np.testing.assert_allclose(compare.state.result.analysis.probs, loaded.result.analysis.probs,
                               atol=1e-6)  # fmt: skip
    halves = loaded.split_view.sizes()
    assert min(halves) / sum(halves) > 0.45  # two halves, give or take their controls


def test_each_pane_has_its_own_layer_and_head(qtbot, loaded):
    loaded.state.select_head(2, MEAN_HEAD)  # the last layer on the left
    compare = split(qtbot, loaded)
    compare.controls.layer_head.layer.setValue(1)
    assert compare.state.layer == 0 and loaded.state.layer == 2
    assert compare.image_view.title() == "Class-token attention, layer 1, mean of heads"
    assert loaded.image_view.title() == "Class-token attention, layer 3, mean of heads"
    assert not np.allclose(compare.state.view_map, loaded.state.view_map)


def test_each_pane_has_its_own_rollout(qtbot, loaded):
    compare = split(qtbot, loaded)
    fusion = compare.controls.rollout.findChild(QComboBox)  # its first: the head fusion
    fusion.setCurrentIndex(fusion.findText("max"))
    assert compare.state.rollout.head_fusion == "max"
    assert loaded.state.rollout.head_fusion == "mean"
    assert "max of heads" in compare.image_view.title()
    assert "mean of heads" in loaded.image_view.title()


def test_the_class_specific_rollout_beside_the_plain_one(qtbot, loaded):
    compare = split(qtbot, loaded)
    chooser = compare.controls.classes
    chooser.activated.emit(1)  # the second most probable class, as a pick in the list would
    def painted():
        overlay = compare.state.overlay
        return overlay.grid_map is not None and "Class-specific" in overlay.title

    qtbot.waitUntil(painted, timeout=WAIT_MS)
    assert loaded.state.rollout.mode == "plain"
    assert "Attention rollout" in loaded.image_view.title()


def test_a_patch_clicked_in_either_pane_is_selected_in_both(qtbot, loaded):
    compare = split(qtbot, loaded)
    click_patch(qtbot, loaded.image_view, 5)
    assert compare.state.patch == loaded.state.patch == 5
    assert compare.image_view.canvas.selected_patch() == 5
    click_patch(qtbot, compare.image_view, 10)
    assert loaded.state.patch == 10 and loaded.image_view.canvas.selected_patch() == 10


def test_a_fine_tuned_model_beside_its_base(qtbot, loaded, model_file, eight_class_model_file):
    compare = split(qtbot, loaded)
    compare.load_model(eight_class_model_file)
    qtbot.waitUntil(lambda: compare.state.result.analysis.probs.shape == (8,), timeout=WAIT_MS)
    assert compare.state.model.name == "eight"
    assert loaded.model_summary.name == "tiny"
    assert compare.model_choice.currentText() == "eight"
    click_patch(qtbot, loaded.image_view, 6)
    assert compare.state.patch == 6  # the same 4 × 4 grid over the same crop
    compare.follow_model()
    qtbot.waitUntil(lambda: compare.state.model.name == "tiny" and not compare.busy,
                    timeout=WAIT_MS)  # fmt: skip
    assert compare.model_choice.currentIndex() == 0


def test_a_pane_with_its_own_model_stays_with_it(qtbot, loaded, model_file,
                                                 eight_class_model_file):  # fmt: skip
    compare = split(qtbot, loaded)
    compare.load_model(model_file)
    with qtbot.waitSignal(loaded.modelReady, timeout=WAIT_MS):
        loaded.load_model(eight_class_model_file)
    qtbot.waitUntil(lambda: not compare.busy and not loaded.busy, timeout=WAIT_MS)
    assert compare.state.model.name == "tiny"


def test_another_image_beside_the_first(qtbot, loaded, images):
    compare = split(qtbot, loaded)
    compare.open_image(images[1])
    qtbot.waitUntil(lambda: compare.state.result.path == images[1], timeout=WAIT_MS)
    with qtbot.waitSignal(loaded.analysisReady, timeout=WAIT_MS):
        loaded.open_image(images[2])
    assert compare.state.image_path == images[1]
    assert compare.image_choice.currentText() == images[1].name
    click_patch(qtbot, loaded.image_view, 3)
    assert compare.state.patch == 3  # the same place of the model input
    compare.follow_image()
    qtbot.waitUntil(lambda: compare.state.result.path == images[2], timeout=WAIT_MS)


def test_an_image_dropped_on_the_pane_opens_there(qtbot, loaded, images, tmp_path):
    compare = split(qtbot, loaded)
    compare.open_paths([images[2]])
    qtbot.waitUntil(lambda: compare.state.result.path == images[2], timeout=WAIT_MS)
    assert loaded.result.path == images[0]
    note = tmp_path / "note.txt"
    note.write_text("not an image")
    compare.open_paths([note])
    assert "note.txt" in compare.pane.banner.error_text()


def test_closing_the_split_hides_the_pane_and_unlinks_it(qtbot, loaded):
    compare = split(qtbot, loaded)
    loaded.menus.split_view.trigger()
    assert not loaded.split_view.is_split() and not compare.isVisible()
    assert not loaded.menus.split_view.isChecked()
    click_patch(qtbot, loaded.image_view, 7)
    assert compare.state.patch != 7
    loaded.menus.split_view.trigger()  # again: the same pane, linked once more
    assert loaded.split_view.compare is compare and compare.state.patch == 7


def test_the_view_png_of_a_split_holds_both_pictures(qtbot, loaded, tmp_path):
    compare = split(qtbot, loaded)
    out = tmp_path / "split.png"
    with qtbot.waitSignal(loaded.exportFinished, timeout=WAIT_MS):
        loaded.export_view_png(out)
    picture = QImage(str(out))
    widths = loaded.image_view.grab().width() + compare.image_view.grab().width()
    assert picture.width() == widths


def test_the_split_is_remembered_across_restarts(qtbot, loaded, settings, model_file, images):
    split(qtbot, loaded)
    loaded.close()
    again = open_window(qtbot, settings)
    try:
        assert again.split_view.is_split() and again.menus.split_view.isChecked()
        with qtbot.waitSignal(again.analysisReady, timeout=WAIT_MS):
            again.load_model(model_file)
            again.open_image(images[0])
        compare = again.split_view.compare
        qtbot.waitUntil(lambda: compare.state.result is not None, timeout=WAIT_MS)
        assert compare.following_model and compare.state.result.path == images[0]
        again.set_split(False)
    finally:
        again.close()
        assert again.shutdown()
    third = open_window(qtbot, settings)
    try:
        assert not third.split_view.is_split() and third.split_view.compare is None
    finally:
        third.close()
        assert third.shutdown()


def test_a_patch_outside_the_other_crop_is_noted_there(qtbot, loaded, tmp_path):
    # Resizing the shorter side to 64 before the 32-pixel crop zooms in on the middle.
    tiny = random_model(TINY_ARCH, name="zoomed")
    pre = Preprocessing(resize_size=64, crop_size=32)
    zoomed = save_model(make_model(tiny.module, TINY_ARCH, replace(tiny.meta, preprocessing=pre)),
                        tmp_path / "zoomed.safetensors")  # fmt: skip
    compare = split(qtbot, loaded)
    compare.load_model(zoomed)
    qtbot.waitUntil(lambda: compare.state.model.name == "zoomed" and not compare.busy
                    and compare.state.result.original.geometry.crop
                    != loaded.result.original.geometry.crop, timeout=WAIT_MS)  # fmt: skip
    click_patch(qtbot, loaded.image_view, 0)  # a corner: outside the zoomed crop
    assert "outside the crop" in compare.pane.banner.text()
    click_patch(qtbot, loaded.image_view, 5)  # near the middle: inside it
    assert compare.pane.banner.text() == ""


def test_a_model_that_fails_in_the_pane_says_so_there(qtbot, loaded, tmp_path):
    compare = split(qtbot, loaded)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a model")
    compare.load_model(broken)
    qtbot.waitUntil(lambda: "broken.safetensors" in compare.pane.banner.error_text(),
                    timeout=WAIT_MS)  # fmt: skip
    assert loaded.error_text() == ""
    assert compare.state.model.name == "tiny"  # the model it had stays


@pytest.mark.parametrize("key", ["Ctrl+\\"])
def test_the_split_has_a_shortcut_and_a_menu_entry(loaded, key):
    action = loaded.menus.split_view
    assert action.shortcut().toString() == key and action.isCheckable()
    view_menu = next(a.menu() for a in loaded.menuBar().actions() if a.text() == "&View")
    assert action in view_menu.actions()
