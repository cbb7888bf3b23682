"""Rollout controls emit exactly the settings shown, once per change."""

import pytest
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QRadioButton, QSlider, QSpinBox

from vit_studio.gui.state.rollout import RolloutSettings
from vit_studio.gui.widgets.rollout_controls import RolloutControls


@pytest.fixture
def controls(qtbot):
    widget = RolloutControls()
    qtbot.addWidget(widget)
    widget.set_num_layers(12)
    return widget


@pytest.fixture
def emitted(controls):
    received = []
    controls.changed.connect(received.append)
    return received


def radio(controls, text_start):
    return next(b for b in controls.findChildren(QRadioButton) if b.text().startswith(text_start))


def test_starts_with_plain_mean_rollout_over_all_layers(controls):
    assert controls.settings() == RolloutSettings("plain", "mean", 0.0, 0)


def test_head_fusion_emits_once(controls, emitted):
    controls.findChild(QComboBox).setCurrentIndex(1)
    assert emitted == [RolloutSettings(head_fusion="max")]


def test_slider_and_spinbox_stay_in_step_and_emit_once_each(controls, emitted):
    slider, spin = controls.findChild(QSlider), controls.findChild(QDoubleSpinBox)
    slider.setValue(50)
    assert spin.value() == pytest.approx(0.5)
    spin.setValue(0.97)
    assert slider.value() == 97
    assert [s.discard_ratio for s in emitted] == [0.5, 0.97]
    assert spin.maximum() == pytest.approx(0.99)


def test_start_layer_is_shown_from_one_and_emitted_from_zero(controls, emitted):
    spin = controls.findChild(QSpinBox)
    spin.setValue(4)
    assert emitted == [RolloutSettings(start_layer=3)]
    assert (spin.minimum(), spin.maximum()) == (1, 12)


def test_gradient_mode_disables_head_fusion(controls, emitted):
    radio(controls, "Class-specific").click()
    assert emitted == [RolloutSettings(mode="gradient")]
    assert not controls.findChild(QComboBox).isEnabled()
    radio(controls, "Attention rollout").click()
    assert emitted[-1] == RolloutSettings(mode="plain")
    assert controls.findChild(QComboBox).isEnabled()


def test_without_gradients_the_gradient_option_is_off_and_explained(controls, emitted):
    radio(controls, "Class-specific").click()
    controls.set_gradient_available(False)
    gradient = radio(controls, "Class-specific")
    assert not gradient.isEnabled()
    assert "gradient classes" in gradient.toolTip()
    assert emitted == [RolloutSettings(mode="gradient"), RolloutSettings(mode="plain")]
    controls.set_gradient_available(True)
    assert gradient.isEnabled()
    assert len(emitted) == 2


def test_set_settings_shows_them_and_emits_only_on_change(controls, emitted):
    wanted = RolloutSettings("gradient", "min", 0.3, 5)
    controls.set_settings(wanted)
    controls.set_settings(wanted)
    assert emitted == [wanted]
    assert controls.findChild(QSlider).value() == 30
    assert controls.findChild(QSpinBox).value() == 6


def test_fewer_layers_clip_the_start_layer(controls, emitted):
    controls.set_settings(RolloutSettings(start_layer=10))
    controls.set_num_layers(3)
    assert controls.settings().start_layer == 2
    assert emitted[-1] == RolloutSettings(start_layer=2)


def test_every_control_explains_itself(controls):
    editors = [controls.findChild(kind) for kind in (QComboBox, QSlider, QDoubleSpinBox, QSpinBox)]
    for editor in [*editors, *controls.findChildren(QRadioButton)]:
        assert editor.toolTip()
