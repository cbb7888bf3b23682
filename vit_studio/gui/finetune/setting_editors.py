"""The field that edits one training setting, made from its entry in the settings table.

Numbers get spin boxes with the setting's bounds, step and decimals (learning rates a spin box
that reads 2.5e-04 and steps by doubling), choices a drop-down, switches a check box, and what
trains (`freeze`) a
drop-down of none / the last blocks / the head with a block count beside it. Every editor says
`edited` when the user changes it, and nothing when the form shows a value (`display`).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QSpinBox,
    QWidget,
)

from vit_studio.engine.training.settings import DATA, FREEZE_WIDGET, Setting

FREEZE_MODES = (
    ("none", "Every layer"),
    ("blocks", "The last blocks and the head"),
    ("backbone", "Only the new head"),
)


class ScientificSpinBox(QDoubleSpinBox):
    """A spin box for learning rates: shows and accepts 2.5e-04 style numbers."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(12)

    def textFromValue(self, value: float) -> str:
        return f"{value:.3g}"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return self.value()

    def validate(self, text: str, position: int) -> tuple[QValidator.State, str, int]:
        try:
            value = float(text)
        except ValueError:
            return QValidator.State.Intermediate, text, position
        if self.minimum() <= value <= self.maximum():
            return QValidator.State.Acceptable, text, position
        return QValidator.State.Intermediate, text, position

    def stepBy(self, steps: int) -> None:
        self.setValue(self.value() * 2.0**steps)  # halving and doubling suit a rate


class SettingEditor(QWidget):
    """The editor of one setting; see the module."""

    edited = Signal()

    def __init__(self, setting: Setting, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setting = setting
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    def value(self) -> Any:
        raise NotImplementedError

    def display(self, value: Any) -> None:
        """Show `value` as the form's own (not the user's: no `edited`)."""
        self._put(value)

    def enter(self, value: Any) -> None:
        """Change the value as the user would by typing or choosing it."""
        self._put(value)
        self.edited.emit()

    def _put(self, value: Any) -> None:
        """Set the value with the inner widgets' signals blocked."""
        raise NotImplementedError

    def _add(self, widget: QWidget, stretch: int = 0) -> QWidget:
        self._layout.addWidget(widget, stretch)
        return widget


class NumberEditor(SettingEditor):
    """A spin box: integers, decimals, or a learning rate."""

    def __init__(self, setting: Setting, parent: QWidget | None = None) -> None:
        super().__init__(setting, parent)
        low, high = setting.bounds
        if setting.type is int:
            box: QSpinBox | QDoubleSpinBox = QSpinBox()
            box.setRange(int(low), int(min(high, 2**31 - 1)))
        else:
            box = ScientificSpinBox() if setting.scientific else QDoubleSpinBox()
            box.setRange(low, high)
            if not setting.scientific:
                box.setDecimals(setting.decimals)
                box.setSingleStep(setting.step)
        if setting.unit:
            box.setSuffix(f" {setting.unit}")
        self.box = self._add(box, 1)
        # The validation share re-splits the folder: once the user is done, not per keystroke.
        if setting.kind == DATA:
            box.editingFinished.connect(self.edited)
        else:
            box.valueChanged.connect(lambda _value: self.edited.emit())

    def value(self) -> Any:
        value = self.box.value()
        return int(value) if self.setting.type is int else float(value)

    def set_range(self, low: float, high: float, step: float) -> None:
        with QSignalBlocker(self.box):
            self.box.setRange(low, high)
            self.box.setSingleStep(step)

    def _put(self, value: Any) -> None:
        with QSignalBlocker(self.box):
            self.box.setValue(value)


class ChoiceEditor(SettingEditor):
    """A drop-down of the setting's choices."""

    def __init__(self, setting: Setting, parent: QWidget | None = None) -> None:
        super().__init__(setting, parent)
        self.combo = self._add(QComboBox(), 1)
        for choice in setting.choices:
            self.combo.addItem(choice, choice)
        self.combo.currentIndexChanged.connect(lambda _row: self.edited.emit())

    def value(self) -> str:
        return self.combo.currentData()

    def _put(self, value: Any) -> None:
        with QSignalBlocker(self.combo):
            self.combo.setCurrentIndex(self.combo.findData(value))


class FreezeEditor(SettingEditor):
    """What trains: everything, the last N blocks and the head, or only the head."""

    def __init__(self, setting: Setting, parent: QWidget | None = None) -> None:
        super().__init__(setting, parent)
        self.mode = self._add(QComboBox(), 1)
        for key, label in FREEZE_MODES:
            self.mode.addItem(label, key)
        self.blocks = self._add(QSpinBox())
        self.blocks.setRange(1, 1)
        self.blocks.setSuffix(" blocks")
        self.mode.currentIndexChanged.connect(self._on_mode)
        self.blocks.valueChanged.connect(lambda _value: self.edited.emit())

    def value(self) -> str:
        mode = self.mode.currentData()
        return str(self.blocks.value()) if mode == "blocks" else mode

    def set_layers(self, layers: int) -> None:
        with QSignalBlocker(self.blocks):
            self.blocks.setRange(1, max(1, layers))

    def setEnabled(self, enabled: bool) -> None:  # noqa: N802 - Qt's name
        super().setEnabled(enabled)
        self.blocks.setEnabled(enabled and self.mode.currentData() == "blocks")

    def _on_mode(self, _row: int) -> None:
        self.blocks.setEnabled(self.isEnabled() and self.mode.currentData() == "blocks")
        self.edited.emit()

    def _put(self, value: Any) -> None:
        blocks = str(value).isdigit()
        with QSignalBlocker(self.mode), QSignalBlocker(self.blocks):
            self.mode.setCurrentIndex(self.mode.findData("blocks" if blocks else value))
            if blocks:
                self.blocks.setValue(int(value))
        self.blocks.setEnabled(self.isEnabled() and blocks)


class SwitchEditor(SettingEditor):
    """A check box for a setting that is on or off."""

    def __init__(self, setting: Setting, parent: QWidget | None = None) -> None:
        super().__init__(setting, parent)
        self.check = self._add(QCheckBox(), 1)
        self.check.toggled.connect(lambda _on: self.edited.emit())

    def value(self) -> bool:
        return self.check.isChecked()

    def _put(self, value: Any) -> None:
        with QSignalBlocker(self.check):
            self.check.setChecked(bool(value))


def editor_for(setting: Setting) -> SettingEditor:
    """The editor that fits `setting`."""
    if setting.widget == FREEZE_WIDGET:
        return FreezeEditor(setting)
    if setting.type is bool:
        return SwitchEditor(setting)
    if setting.choices:
        return ChoiceEditor(setting)
    return NumberEditor(setting)
