"""The fine-tune panel inside the explorer: its menu and view, an explorer that stays usable while
a run trains, and Open in Explorer switching the explorer to the new model."""

from __future__ import annotations

from tests.gui.conftest import WAIT_MS, run_to_end
from tests.test_cli_train import COLOURS
from vit_studio.gui.state.explorer import VIEWS
from vit_studio.gui.state.finetune_phases import PanelState


def finetune_ready(qtbot, window, model_file, class_folder):
    with qtbot.waitSignal(window.finetune_panel.readyChanged, timeout=WAIT_MS,
                          check_params_cb=bool):  # fmt: skip
        window.load_model(model_file)
        window.finetune_folder(class_folder)
    return window.finetune_panel


def test_fine_tune_has_a_menu_and_a_view(window):
    menus = [action.text() for action in window.menuBar().actions()]
    assert "Fine-&tune" in menus and "finetune" in VIEWS
    window.show_view("finetune")
    assert window.finetune_panel.isVisible()


def test_the_explorer_analyses_images_while_a_run_trains(
    qtbot, window, model_file, class_folder, images
):
    panel = finetune_ready(qtbot, window, model_file, class_folder)
    panel.form.set_value("epochs", 50)
    panel.form.set_value("patience", 0)  # every epoch runs
    with qtbot.waitSignal(panel.client.stepDone, timeout=WAIT_MS):
        panel.start()
    with qtbot.waitSignal(window.analysisReady, timeout=WAIT_MS):
        window.open_image(images[0])
    assert panel.state() in (PanelState.TRAINING, PanelState.FINISHED)
    with qtbot.waitSignal(panel.runEnded, timeout=WAIT_MS):
        panel.cancel()


def test_open_in_explorer_switches_the_explorer_to_the_fine_tuned_model(
    qtbot, window, model_file, class_folder
):
    panel = finetune_ready(qtbot, window, model_file, class_folder)
    assert panel.form.base_path() == model_file  # the explorer's model is the default base
    run_to_end(qtbot, panel, epochs=1)
    with qtbot.waitSignal(window.modelReady, timeout=WAIT_MS) as ready:
        panel.results.open_button.click()
    summary = ready.args[0]
    assert summary.path == panel.model_path() and summary.class_names == COLOURS
    assert window.views.current_view() == "predictions"
