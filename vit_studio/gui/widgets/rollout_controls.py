"""The controls that edit the rollout settings (`state.rollout.RolloutSettings`), in the control
column beside the image."""

from __future__ import annotations

from contextlib import ExitStack

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QRadioButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from vit_studio.engine.attribution import HEAD_FUSIONS
from vit_studio.gui.state.rollout import MAX_DISCARD_RATIO, RolloutSettings

DISCARD_STEPS = 100  # slider ticks per unit of discard ratio: 0.01 resolution

GRADIENT_UNAVAILABLE_TIP = (
    "Not available: this analysis holds no class gradients. "
    "Analyse with gradient classes to enable class-specific rollout."
)
GRADIENT_TIP = (
    "Class-specific rollout, a hybrid: Chefer et al. 2021's head fusion (the positive part of "
    "each attention times its gradient for the chosen class) with Abnar & Zuidema's rollout and "
    "row renormalisation, so the map shows evidence for that class rather than where attention "
    "flows."
)


class RolloutControls(QWidget):
    """Edits a `RolloutSettings`.

    `changed(RolloutSettings)` is emitted once every time `settings()` changes value, whether the
    user or a setter changed it (like Qt's own valueChanged signals); never when nothing changed.
    """

    changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._plain = QRadioButton("Attention rollout")
        self._plain.setToolTip(
            "Attention rollout (Abnar & Zuidema 2020): multiplies the layers' attention, with the "
            "residual connection added, to follow how information flows to the class token."
        )
        self._gradient = QRadioButton("Class-specific (gradient)")
        self._gradient.setToolTip(GRADIENT_TIP)
        self._modes = QButtonGroup(self)
        self._modes.addButton(self._plain)
        self._modes.addButton(self._gradient)
        self._plain.setChecked(True)

        self._fusion = QComboBox()
        for fusion in HEAD_FUSIONS:
            self._fusion.addItem(fusion, fusion)
        self._fusion.setToolTip(
            "How each layer's heads are combined before rolling out: mean keeps everything, "
            "max follows the strongest head, min keeps what all heads agree on. "
            "Class-specific rollout always uses its own gradient-weighted mean."
        )

        discard_tip = (
            "Fraction of each layer's weakest attention links set to zero before rolling out; "
            "higher values remove diffuse background attention and sharpen the map."
        )
        self._discard_slider = QSlider(Qt.Orientation.Horizontal)
        self._discard_slider.setRange(0, round(MAX_DISCARD_RATIO * DISCARD_STEPS))
        self._discard_slider.setToolTip(discard_tip)
        self._discard_spin = QDoubleSpinBox()
        self._discard_spin.setRange(0.0, MAX_DISCARD_RATIO)
        self._discard_spin.setSingleStep(1.0 / DISCARD_STEPS)
        self._discard_spin.setDecimals(2)
        self._discard_spin.setToolTip(discard_tip)

        self._start = QSpinBox()
        self._start.setRange(1, 1)
        self._start.setToolTip(
            "First layer included in the rollout (1 = all layers). Starting later shows what the "
            "upper layers add on their own."
        )

        # Laid out for the narrow control column beside the image: labels above their editors.
        modes = QVBoxLayout()
        modes.setSpacing(2)
        modes.addWidget(self._plain)
        modes.addWidget(self._gradient)
        discard = QHBoxLayout()
        discard.addWidget(self._discard_slider, 1)
        discard.addWidget(self._discard_spin)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapAllRows)
        form.setVerticalSpacing(4)
        form.addRow(modes)
        form.addRow("Head fusion", self._fusion)
        form.addRow("Discard lowest", discard)
        form.addRow("Start at layer", self._start)

        self._current = self._read()
        self._modes.buttonToggled.connect(self._on_edit)
        self._fusion.currentIndexChanged.connect(self._on_edit)
        self._discard_slider.valueChanged.connect(self._on_slider)
        self._discard_spin.valueChanged.connect(self._on_spin)
        self._start.valueChanged.connect(self._on_edit)

    def settings(self) -> RolloutSettings:
        return self._current

    def set_settings(self, settings: RolloutSettings) -> None:
        """Show `settings`, clipped to what is available (start layer range, gradient mode)."""
        self._write(settings)
        self._on_edit()

    def set_num_layers(self, num_layers: int) -> None:
        """Allow start layers 1..num_layers (clipping the current one if needed)."""
        with QSignalBlocker(self._start):
            self._start.setRange(1, max(1, num_layers))
        self._on_edit()

    def set_gradient_available(self, available: bool, why_not: str = "") -> None:
        """Enable class-specific rollout, or disable it saying `why_not` in its tooltip."""
        self._gradient.setEnabled(available)
        unavailable = f"Not available: {why_not}." if why_not else GRADIENT_UNAVAILABLE_TIP
        self._gradient.setToolTip(GRADIENT_TIP if available else unavailable)
        if not available and self._gradient.isChecked():
            with QSignalBlocker(self._modes):
                self._plain.setChecked(True)
        self._on_edit()

    def _read(self) -> RolloutSettings:
        return RolloutSettings(
            mode="gradient" if self._gradient.isChecked() else "plain",
            head_fusion=self._fusion.currentData(),
            discard_ratio=round(self._discard_spin.value(), 2),
            start_layer=self._start.value() - 1,
        )

    def _write(self, settings: RolloutSettings) -> None:
        editors = (self._modes, self._fusion, self._discard_slider, self._discard_spin, self._start)
        with ExitStack() as stack:
            for editor in editors:
                stack.enter_context(QSignalBlocker(editor))
            wants_gradient = settings.mode == "gradient" and self._gradient.isEnabledTo(self)
            (self._gradient if wants_gradient else self._plain).setChecked(True)
            self._fusion.setCurrentIndex(self._fusion.findData(settings.head_fusion))
            self._discard_spin.setValue(settings.discard_ratio)
            self._discard_slider.setValue(round(self._discard_spin.value() * DISCARD_STEPS))
            self._start.setValue(settings.start_layer + 1)

    def _on_slider(self, value: int) -> None:
        with QSignalBlocker(self._discard_spin):
            self._discard_spin.setValue(value / DISCARD_STEPS)
        self._on_edit()

    def _on_spin(self, value: float) -> None:
        with QSignalBlocker(self._discard_slider):
            self._discard_slider.setValue(round(value * DISCARD_STEPS))
        self._on_edit()

    def _on_edit(self) -> None:
        # Gradient rollout fuses heads its own way, so the fusion choice would be a no-op there.
        self._fusion.setEnabled(not self._gradient.isChecked())
        settings = self._read()
        if settings != self._current:
            self._current = settings
            self.changed.emit(settings)
