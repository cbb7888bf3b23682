"""The settings form: made from the settings table, defaults from the data and explained; a
changed setting stays as the user set it while the settings that follow it (learning rate,
warmup) keep following."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import TINY_ARCH
from tests.engine.training.test_plan import fake_scan
from vit_studio.engine.checkpoints import CheckpointInfo
from vit_studio.engine.training.plan import finetune_lr, plan_finetune
from vit_studio.engine.training.settings import FINETUNE, RUNTIME, settings_for
from vit_studio.gui.finetune.settings_form import FORM_SETTINGS, SettingsForm
from vit_studio.gui.state.finetune import FinetuneSession
from vit_studio.gui.state.finetune_results import ScanResult

FOLDER = Path("pets")
BASE = CheckpointInfo(path=Path("tiny.safetensors"), format="vit_studio", name="tiny",
                      arch=TINY_ARCH)  # fmt: skip


def scanned(session: FinetuneSession, per_class: int = 80) -> None:
    """The training thread's answer to the session's scan of the folder."""
    session.scanned(ScanResult(FOLDER, fake_scan(per_class)))


def form_for(qtbot, per_class: int = 80) -> SettingsForm:
    """A form on a session whose folder is scanned and whose base model has been read."""
    session = FinetuneSession(Path("runs"), device="cpu")
    form = SettingsForm(session)
    qtbot.addWidget(form)
    session.choose_folder(FOLDER)
    scanned(session, per_class)
    form.set_base_model(BASE.path)
    session.inspected(BASE)
    return form


def test_the_form_has_a_field_for_every_setting_a_fine_tune_learns_with_and_its_patience():
    names = {entry.name for entry in FORM_SETTINGS}
    assert names == {entry.name for entry in settings_for(FINETUNE)} - {
        entry.name for entry in settings_for(FINETUNE, RUNTIME)
    } | {"patience"}


def test_without_data_or_base_model_there_is_nothing_to_run(qtbot):
    session = FinetuneSession(Path("runs"))
    form = SettingsForm(session)
    qtbot.addWidget(form)
    session.choose_folder(FOLDER)
    scanned(session)
    assert form.values() is None and not form.is_editable("epochs")


def test_the_form_shows_the_plan_of_the_data_and_why(qtbot):
    form = form_for(qtbot)
    plan = plan_finetune(fake_scan(80), TINY_ARCH)
    assert form.values() == plan.values()
    assert (form.value("epochs"), form.value("batch_size"), form.value("freeze")) == (33, 64,
                                                                                     "none")
    assert form.value("probe_head") is True and form.value("layer_decay") == 0.75
    assert "Default: about 400 steps in all (12 per epoch)" in form.tooltip("epochs")
    assert "Passes over the training images." in form.tooltip("epochs")
    assert "Default: 0.05." in form.tooltip("weight_decay")  # a fixed default says so too
    assert form.chosen() == frozenset()


def test_a_changed_batch_size_is_kept_and_the_learning_rate_and_epochs_follow_it(qtbot):
    form = form_for(qtbot)
    form.set_value("batch_size", 16)
    values = form.values()
    assert values["batch_size"] == 16 and values["lr"] == finetune_lr(16, "none")
    assert values["epochs"] == 8  # 50 steps per epoch: 400 steps
    assert form.chosen() == {"batch_size"} and form.label("batch_size") == "Batch size *"
    assert "You set this" in form.tooltip("batch_size")
    form.set_value("lr", 0.001)
    form.set_value("batch_size", 32)
    assert form.values()["lr"] == 0.001  # set by the user: it no longer follows


def test_derived_epochs_run_with_their_time_budget_and_chosen_epochs_without(qtbot):
    form = form_for(qtbot)
    assert (form.values()["max_minutes"], form.values()["fit_epochs"]) == (6.7, True)
    form.set_value("epochs", 12)
    assert (form.values()["max_minutes"], form.values()["fit_epochs"]) == (None, False)


def test_reset_makes_every_setting_follow_the_data_again(qtbot):
    form = form_for(qtbot)
    form.set_value("epochs", 7)
    form.set_value("freeze", "backbone")
    assert form.values()["lr"] == finetune_lr(64, "backbone")  # the head alone: its own rate
    form.set_value("probe_head", False)
    assert form.values()["probe_head"] is False
    form.reset_button.click()
    assert form.values() == plan_finetune(fake_scan(80), TINY_ARCH).values()
    assert form.chosen() == frozenset() and form.label("epochs") == "Epochs"


def test_an_image_size_that_does_not_fit_the_patches_blocks_the_run(qtbot):
    form = form_for(qtbot)
    form.set_value("image_size", 30)  # the tiny model's patches are 8 px
    assert form.values() is None
    assert "not a multiple of the base model's patch size (8 px); use e.g. 24 px" in form.error()
    form.set_value("image_size", 24)
    assert form.values()["image_size"] == 24 and form.error() == ""


def test_a_changed_validation_share_asks_for_a_new_split(qtbot):
    form = form_for(qtbot)
    session = form.session
    asked = []
    session.scan_requested.connect(lambda folder, share: asked.append((folder, share)))
    form.set_value("val_share", 0.3)
    assert asked == [(FOLDER, 0.3)] and session.val_share == 0.3
    assert form.values() is None  # until the folder is split again
    scanned(session)
    assert form.values()["val_share"] == 0.3
