"""The window laid out around the picture: the photo takes most of the width, the controls that
change it sit beside it, the side panels are narrow and remembered, empty boxes are one line, and
the desktop's conventions hold (full screen, a list of the shortcuts, light and dark)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QAction, QColor, QKeySequence, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QComboBox, QScrollArea

from tests.conftest import TINY_ARCH
from tests.gui.conftest import WAIT_MS, make_settings
from vit_studio.cli.explore import build_parser
from vit_studio.engine.checkpoints.discovery import LocalModel
from vit_studio.gui import imaging
from vit_studio.gui.layout import SIDE_MAX
from vit_studio.gui.main_window import MainWindow
from vit_studio.gui.state.explorer import VIEWS
from vit_studio.gui.widgets.model_panel import FIND_TEXT, NONE_FOUND_TEXT, ModelPanel

SIZES = [(1280, 800), (1920, 1080)]
FINETUNE_PAGES = ("data", "settings", "training", "result")


def sized_window(qtbot, settings, size) -> MainWindow:
    """A window opened at `size`, as `vit-studio --window-size` opens it."""
    window = MainWindow(settings, num_threads=1)
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    return window


@pytest.fixture
def closing():
    """Windows a test opens, closed and their threads stopped when it ends."""
    opened: list[MainWindow] = []
    yield opened.append
    for window in opened:
        window.close()
        assert window.shutdown(), "a worker thread did not stop"


def analysed(qtbot, window, model_file, image) -> MainWindow:
    with qtbot.waitSignal(window.analysisReady, timeout=WAIT_MS):
        window.load_model(model_file)
        window.open_image(image)
    return window


def photo_width(window) -> float:
    QApplication.processEvents()
    return window.image_view.canvas.image_rect().width()


@pytest.mark.parametrize("model_input", [False, True], ids=["photo", "model input"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_photo_is_at_least_half_the_window_wide_in_every_view(qtbot, settings, model_file,
                                                                  images, closing, size,
                                                                  model_input):  # fmt: skip
    # Shown as the model sees it, the picture is the square crop, as tall as the window allows:
    # its width is then what the height leaves it, and it still takes half the window once the
    # app is in use (at 1920×1080 the first-run hint's line above it would cost 30 pixels).
    settings.show_model_input = model_input
    settings.first_run_hint_used = model_input
    window = sized_window(qtbot, settings, size)
    closing(window)
    analysed(qtbot, window, model_file, images[0])
    assert window.width() == size[0]  # nothing forces the window wider than asked
    assert window.image_view.canvas.showing_original() != model_input
    side = window.layout_manager.views_dock.width()
    assert side <= max(320, size[0] // 4) and side <= SIDE_MAX
    for view in VIEWS:
        window.show_view(view)
        assert photo_width(window) >= window.width() / 2, view


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_fine_tune_panel_gets_what_the_photo_can_spare_and_gives_it_back(
    qtbot, settings, model_file, images, closing, size
):
    window = analysed(qtbot, sized_window(qtbot, settings, size), model_file, images[0])
    closing(window)
    dock = window.layout_manager.views_dock
    narrow = dock.width()
    window.show_view("finetune")
    QApplication.processEvents()
    assert photo_width(window) >= window.width() / 2
    assert narrow < dock.width() <= window.width() / 2
    # The map's controls step aside for it; the panel's pages fit the column, none cut off at
    # its side (the Training page scrolls down where its views stack).
    assert not window.image_controls.isVisible()
    panel, tab = window.finetune_panel, window.views.currentWidget()
    for page in FINETUNE_PAGES:
        panel.show_page(page)
        QApplication.processEvents()
        assert tab.horizontalScrollBar().maximum() == 0, page
        assert tab.verticalScrollBar().maximum() == 0, page  # the run controls stay in sight
        shown = panel.pages.currentWidget()
        if isinstance(shown, QScrollArea):
            assert shown.horizontalScrollBar().maximum() == 0, page
    window.show_view("predictions")
    QApplication.processEvents()
    assert window.image_controls.isVisible() and dock.width() == narrow


def test_a_window_resized_on_the_fine_tune_view_keeps_half_for_the_photo(
    qtbot, settings, model_file, images, closing
):
    window = analysed(qtbot, sized_window(qtbot, settings, (1920, 1080)), model_file, images[0])
    closing(window)
    window.show_view("finetune")
    window.resize(1280, 800)
    QApplication.processEvents()
    assert photo_width(window) >= window.width() / 2
    assert window.views.currentWidget().horizontalScrollBar().maximum() == 0


def test_the_controls_beside_the_picture_change_it(qtbot, loaded):
    analysis = loaded.result.analysis
    controls = loaded.image_controls
    picture = loaded.image_view.canvas
    beside = controls.mapTo(loaded, QPoint(controls.width(), 0)).x()
    assert beside <= picture.mapTo(loaded, QPoint(0, 0)).x()  # to the left, on the same rows
    assert controls.mapTo(loaded, QPoint(0, 0)).y() < picture.mapTo(loaded, QPoint(0, 0)).y() + 50

    controls.rollout.findChild(QComboBox).setCurrentIndex(1)  # head fusion: max
    np.testing.assert_allclose(loaded.view_map, analysis.rollout("max", 0.0, 0))

    chooser = controls.layer_head
    chooser.layer.setValue(2)
    chooser.head.setCurrentIndex(chooser.head.findData(3))
    chooser.head.activated.emit(chooser.head.currentIndex())
    assert loaded.overlay_kind() == "attention"
    np.testing.assert_allclose(loaded.view_map, analysis.cls_attention[1, 3])

    overlay = controls.overlay
    overlay.setCurrentIndex(overlay.findData("none"))
    overlay.activated.emit(overlay.currentIndex())
    assert loaded.overlay_kind() == "none" and loaded.view_map is None

    second = analysis.top_k(2)[1].index
    classes = controls.classes
    classes.setCurrentIndex(classes.findData(second))
    with qtbot.waitSignal(loaded.analysisReady, timeout=WAIT_MS):  # its gradients, in the worker
        classes.activated.emit(classes.currentIndex())
    np.testing.assert_allclose(loaded.view_map, loaded.result.analysis.gradient_rollout(second))
    assert controls.rollout.settings().mode == "gradient"


def test_the_controls_follow_choices_made_in_the_views(loaded):
    loaded.state.select_head(0, 2)  # as a click on an attention thumbnail does
    assert loaded.image_controls.layer_head.layer_head() == (0, 2)
    assert loaded.image_controls.overlay.currentData() == "attention"
    loaded.state.choose_class(3)  # as a click on a prediction bar does
    assert loaded.image_controls.classes.currentData() == 3


def test_the_rollout_tab_shows_the_rollout_from_each_layer_and_starts_where_clicked(loaded):
    analysis = loaded.result.analysis
    loaded.show_view("rollout")
    maps = loaded.views.rollout
    assert maps.count() == analysis.num_layers and maps.chosen() == 0
    for layer in range(analysis.num_layers):
        icon = maps.button(layer).icon().pixmap(maps.button(layer).iconSize()).toImage()
        expected = imaging.colorize(analysis.rollout("mean", 0.0, layer), imaging.colormap_lut(),
                                    0.0, 1.0)[0, 0]  # fmt: skip
        assert icon.pixelColor(0, 0) == QColor(*map(int, expected))
    maps.button(2).click()
    assert loaded.state.rollout.start_layer == 2 and maps.chosen() == 2
    np.testing.assert_allclose(loaded.view_map, analysis.rollout("mean", 0.0, 2))
    assert loaded.rollout_controls.settings().start_layer == 2


def test_every_view_is_in_sight_in_the_narrow_panel(qtbot, settings, closing):
    window = sized_window(qtbot, settings, (1280, 800))
    closing(window)
    QApplication.processEvents()
    chooser = window.layout_manager.view_chooser
    for index, view in enumerate(VIEWS):
        button = chooser.button(index)
        assert button.isVisible() and chooser.rect().contains(button.geometry()), view
    chooser.button(VIEWS.index("lens")).click()
    assert window.views.current_view() == "lens"


def test_a_closed_panel_and_a_panels_width_are_remembered_after_a_restart(
    qtbot, settings_file, closing
):
    first = sized_window(qtbot, make_settings(settings_file), (1280, 800))
    closing(first)
    layout = first.layout_manager
    layout.folder_dock.toggleViewAction().trigger()  # View ▸ Folder: close the panel
    first.resizeDocks([layout.views_dock], [300], Qt.Orientation.Horizontal)
    QApplication.processEvents()
    width = layout.views_dock.width()
    first.close()

    second = sized_window(qtbot, make_settings(settings_file), (1280, 800))
    closing(second)
    QApplication.processEvents()
    again = second.layout_manager
    assert not again.folder_dock.isVisible() and again.views_dock.isVisible()
    assert again.views_dock.width() == width
    again.folder_dock.toggleViewAction().trigger()
    assert again.folder_dock.isVisible()


def test_closing_on_the_fine_tune_view_does_not_squeeze_the_picture_next_time(
    qtbot, settings_file, closing
):
    first = sized_window(qtbot, make_settings(settings_file), (1280, 800))
    closing(first)
    first.show_view("finetune")
    QApplication.processEvents()
    first.close()
    second = sized_window(qtbot, make_settings(settings_file), (1280, 800))
    closing(second)
    QApplication.processEvents()
    assert second.layout_manager.views_dock.width() <= 320
    assert second.image_view.isVisible()


def test_a_layout_saved_by_an_older_version_is_not_restored(qtbot, settings, closing):
    old = sized_window(qtbot, settings, (1280, 800))
    closing(old)
    old.resizeDocks([old.layout_manager.views_dock], [700], Qt.Orientation.Horizontal)
    QApplication.processEvents()
    settings.window_state = old.saveState(1)  # as the version before this layout saved it
    window = sized_window(qtbot, settings, (1280, 800))
    closing(window)
    QApplication.processEvents()
    assert window.layout_manager.views_dock.width() <= 320


def test_the_models_on_this_computer_are_one_line_until_some_are_found(qtbot, tmp_path):
    panel = ModelPanel()
    qtbot.addWidget(panel)
    panel.show()
    line = 3 * panel.fontMetrics().height()
    assert panel.local_models_text() == FIND_TEXT and not panel.local_models.isVisible()
    assert panel.find_button.height() <= line
    with qtbot.waitSignal(panel.scanRequested):
        panel.find_button.click()
    panel.show_searching()
    assert "Looking" in panel.local_models_text()
    panel.show_local_models([])
    assert panel.local_models_text() == NONE_FOUND_TEXT and not panel.local_models.isVisible()
    local = LocalModel(tmp_path / "m.safetensors", "vit_studio", "mine", TINY_ARCH, "bundled")
    panel.show_local_models([local])
    assert panel.local_models_text() == "" and panel.local_models.isVisible()
    assert panel.local_models.height() <= line  # one model, one row: no tall empty box


def test_the_folder_panel_is_one_line_until_a_folder_is_open(qtbot, window, images):
    folder = window.layout_manager.folder_panel
    assert folder.empty_note.isVisible() and not window.filmstrip.isVisible()
    assert folder.height() <= 3 * folder.fontMetrics().height()
    window.open_folder(images[0].parent)
    QApplication.processEvents()
    assert window.filmstrip.isVisible() and not folder.empty_note.isVisible()


def test_f11_toggles_full_screen(qtbot, window):
    action = window.menus.full_screen
    assert QKeySequence("F11") in action.shortcuts()
    action.trigger()
    qtbot.waitUntil(window.isFullScreen, timeout=WAIT_MS)
    assert action.isChecked()
    action.trigger()
    qtbot.waitUntil(lambda: not window.isFullScreen(), timeout=WAIT_MS)
    assert not action.isChecked()


def test_the_shortcuts_dialog_lists_every_shortcut_of_the_window(qtbot, window):
    dialog = window.show_shortcuts()
    qtbot.addWidget(dialog)
    listed = {(keys, command) for keys, command, _menu in dialog.rows()}
    with_keys = [a for a in window.findChildren(QAction) if a.shortcuts()]
    assert len(with_keys) >= 10
    for action in with_keys:
        keys = ", ".join(k.toString(QKeySequence.SequenceFormat.NativeText)
                         for k in action.shortcuts())  # fmt: skip
        command = action.text().replace("&", "").removesuffix("…")
        assert (keys, command) in listed
    assert ("Ctrl+O", "Open Image", "File") in dialog.rows()
    assert any(command == "Full Screen" and "F11" in keys for keys, command, _ in dialog.rows())


def test_the_first_run_hint_goes_once_a_patch_is_clicked_and_stays_gone(qtbot, settings_file,
                                                                       model_file, images,
                                                                       closing):
    settings = make_settings(settings_file)
    first = analysed(qtbot, sized_window(qtbot, settings, (1280, 800)), model_file, images[0])
    closing(first)
    hint = first.first_run_hint
    assert hint.isVisible() and "Click a patch" in hint.text() and "F11" in hint.text()
    canvas = first.image_view.canvas
    QTest.mouseClick(canvas, Qt.MouseButton.LeftButton,
                     pos=canvas.patch_rect(5).center().toPoint())  # fmt: skip
    assert not hint.isVisible()
    first.close()

    second = sized_window(qtbot, make_settings(settings_file), (1280, 800))
    closing(second)
    assert not second.first_run_hint.isVisible()


def test_dismissing_the_first_run_hint_retires_it(qtbot, settings, closing):
    window = sized_window(qtbot, settings, (1280, 800))
    closing(window)
    assert window.first_run_hint.isVisible()
    window.first_run_hint.dismissed.emit()
    assert not window.first_run_hint.isVisible() and settings.first_run_hint_used


def dark_palette() -> QPalette:
    palette = QPalette()
    roles = QPalette.ColorRole
    for role, colour in ((roles.Window, "#202124"), (roles.Base, "#17181a"),
                         (roles.WindowText, "#e8eaed"), (roles.Text, "#e8eaed")):  # fmt: skip
        palette.setColor(role, QColor(colour))
    return palette


def test_a_dark_palette_recolours_the_charts_and_the_banners(qtbot, loaded):
    loaded.show_view("distance")
    figure = loaded.views.distance.figure
    axes = figure.axes[0]
    light_face = figure.get_facecolor()
    loaded.show_notice("a notice")
    light_banner = loaded.split_view.pane.banner.styleSheet()
    app = QApplication.instance()
    original = app.palette()
    try:
        app.setPalette(dark_palette())
        QApplication.processEvents()
        assert figure.get_facecolor()[:3] == pytest.approx(QColor("#202124").getRgbF()[:3])
        assert figure.get_facecolor() != light_face
        assert axes.get_facecolor()[:3] == pytest.approx(QColor("#17181a").getRgbF()[:3])
        assert axes.title.get_color() == "#e8eaed" and axes.xaxis.label.get_color() == "#e8eaed"
        banner = loaded.split_view.pane.banner.styleSheet()
        assert banner != light_banner and "#1b2f45" in banner  # the dark notice background
    finally:
        app.setPalette(original)
        QApplication.processEvents()
    assert figure.get_facecolor() == light_face


def test_the_window_size_option_reads_w_by_h():
    assert build_parser().parse_args(["--window-size", "1280x800"]).window_size == (1280, 800)
    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args(["--window-size", "large"])
    assert refused.value.code == 2
