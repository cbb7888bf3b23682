"""The settings form: defaults from the data, explained; a changed setting stays as the user set
it while the settings that follow it (learning rate, warmup) keep following."""

from __future__ import annotations

from tests.conftest import TINY_ARCH
from tests.engine.test_finetune import fake_scan
from vit_studio.engine.checkpoints import CheckpointInfo
from vit_studio.engine.finetune import plan_finetune
from vit_studio.engine.training import default_lr
from vit_studio.gui.finetune.choices import FinetuneChoices
from vit_studio.gui.finetune.settings_form import SettingsForm

BASE = CheckpointInfo(path=None, format="vit_studio", name="tiny", arch=TINY_ARCH)


def form_for(qtbot, per_class: int = 80) -> SettingsForm:
    form = SettingsForm()
    qtbot.addWidget(form)
    form.set_data(fake_scan(per_class))
    form.set_base(BASE)
    return form


def test_without_data_or_base_model_there_is_nothing_to_run(qtbot):
    form = SettingsForm()
    qtbot.addWidget(form)
    form.set_data(fake_scan(80))
    assert form.choices() is None and not form.epochs.isEnabled()


def test_the_form_shows_the_plan_of_the_data_and_why(qtbot):
    form = form_for(qtbot)
    plan = plan_finetune(fake_scan(80), TINY_ARCH)
    assert form.choices() == FinetuneChoices.from_plan(plan)
    assert (form.epochs.value(), form.batch_size.value(), form.freeze_blocks.value()) == (25, 64, 1)
    assert form.freeze_mode.currentData() == "blocks"
    assert "Default: about 300 steps in all (12 per epoch)" in form.epochs.toolTip()
    assert form.chosen() == frozenset()


def test_a_changed_batch_size_is_kept_and_the_learning_rate_and_epochs_follow_it(qtbot):
    form = form_for(qtbot)
    form.batch_size.setValue(16)  # as if typed
    choices = form.choices()
    assert choices.batch_size == 16 and choices.lr == default_lr(16)
    assert choices.epochs == 6  # 50 steps per epoch: 300 steps
    assert form.chosen() == {"batch_size"} and form._labels["batch_size"].text() == "Batch size *"
    form.lr.setValue(0.001)
    form.batch_size.setValue(32)
    assert form.choices().lr == 0.001  # set by the user: it no longer follows


def test_reset_makes_every_setting_follow_the_data_again(qtbot):
    form = form_for(qtbot)
    form.epochs.setValue(7)
    form.freeze_mode.setCurrentIndex(form.freeze_mode.findData("none"))
    assert form.choices().lr == default_lr(64, finetune=True)  # everything trains: smaller rate
    form.reset_defaults()
    assert form.choices() == FinetuneChoices.from_plan(plan_finetune(fake_scan(80), TINY_ARCH))
    assert form.chosen() == frozenset()


def test_an_image_size_that_does_not_fit_the_patches_blocks_the_run(qtbot):
    form = form_for(qtbot)
    form.image_size.setValue(30)  # the tiny model's patches are 8 px
    assert form.choices() is None
    assert "multiple of the base model's patch size (8 px), e.g. 24 px" in form.error()


def test_a_changed_validation_share_asks_for_a_new_split(qtbot):
    form = form_for(qtbot)
    with qtbot.waitSignal(form.valShareChanged) as changed:
        form.val_share.setValue(0.3)
        form.val_share.editingFinished.emit()
    assert changed.args == [0.3] and form.choices().val_share == 0.3


def test_choices_map_one_for_one_onto_cli_flags():
    choices = FinetuneChoices(epochs=4, batch_size=16, lr=1.25e-4, freeze="2", image_size=24,
                              augment="strong", mixup=0.0, seed=3)  # fmt: skip
    arguments = choices.cli_arguments()
    assert arguments[:10] == ["--epochs", "4", "--batch-size", "16", "--lr", "0.000125",
                              "--freeze", "2", "--image-size", "24"]  # fmt: skip
    assert choices.augment_config().mixup_alpha == 0.0 and choices.augment_config().trivial_augment
