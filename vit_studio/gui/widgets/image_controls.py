"""The controls that change the picture, in a narrow column beside it: which map to paint, the
rollout settings, the class the class-specific rollout explains, the layer and head of the
attention maps, and at the foot the image view's own toggles (opacity, grid, photo or model
input, smooth map). Moving one repaints the image next to it at once (from the cached analysis).

Everything goes through the `ExplorerState`: the column writes what the user picks and follows
what the state says, so a head clicked under Attention or a class clicked under Predictions
shows here too.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, QSize, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from vit_studio.engine.model import NO_CLASSIFIER
from vit_studio.gui.state.explorer import ExplorerState
from vit_studio.gui.state.overlay import MEAN_HEAD, OVERLAYS, head_text
from vit_studio.gui.state.results import ImageResult
from vit_studio.gui.state.rollout import RolloutSettings
from vit_studio.gui.widgets.rollout_controls import RolloutControls

COLUMN_WIDTH = 190
CHOOSER_CHARACTERS = 14  # the combo boxes elide to this; their lists show the whole names


def _compact(combo: QComboBox) -> QComboBox:
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(CHOOSER_CHARACTERS)
    combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return combo


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


class ClassChooser(QComboBox):
    """Every class of the analysis, most probable first; picking one explains it with the map
    shown if that explains a class (Grad-CAM, AttnLRP), else with the class-specific rollout
    (`state.choose_class`). Disabled, saying why, for a backbone."""

    def __init__(self, state: ExplorerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        _compact(self)
        self.setToolTip(
            "The class the class-specific rollout, Grad-CAM and AttnLRP explain, most probable "
            "first: pick one to see the evidence for it, even if the model does not predict it"
        )
        self.setEnabled(False)
        self.activated.connect(lambda row: state.choose_class(int(self.itemData(row))))
        state.result_changed.connect(self._show_result)
        state.class_changed.connect(self.set_chosen)

    def set_chosen(self, index: int | None) -> None:
        """Show `index` as chosen without choosing it (the state already has)."""
        with QSignalBlocker(self):
            self.setCurrentIndex(-1 if index is None else self.findData(index))

    def _show_result(self, result: ImageResult) -> None:
        analysis = result.analysis
        with QSignalBlocker(self):
            self.clear()
            if analysis.has_classifier:
                for prediction in analysis.top_k(len(analysis.class_names)):
                    label = f"{prediction.label} ({prediction.probability:.1%})"
                    self.addItem(label, prediction.index)
        self.setEnabled(analysis.has_classifier)
        if not analysis.has_classifier:
            self.setPlaceholderText("no classes")
            self.setToolTip(f"This model is {NO_CLASSIFIER}: there is no class to explain.")
        self.set_chosen(self._state.class_index)


class LayerHeadChooser(QWidget):
    """The layer and head whose attention is painted (`state.choose_layer_head`)."""

    def __init__(self, state: ExplorerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self.layer = QSpinBox()
        self.layer.setRange(1, 1)
        self.layer.setToolTip("Which layer's attention to paint on the image (1 = first)")
        self.head = _compact(QComboBox())
        self.head.setToolTip("One head's attention, or the mean over the layer's heads")
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Layer", self.layer)
        form.addRow("Head", self.head)
        self.setEnabled(False)
        self.layer.valueChanged.connect(self._on_edit)
        self.head.activated.connect(self._on_edit)
        state.result_changed.connect(self._show_result)
        state.layer_head_changed.connect(self._show)

    def layer_head(self) -> tuple[int, int]:
        head = self.head.currentData()
        return self.layer.value() - 1, MEAN_HEAD if head is None else int(head)

    def _show_result(self, result: ImageResult) -> None:
        analysis = result.analysis
        with QSignalBlocker(self.layer), QSignalBlocker(self.head):
            self.layer.setRange(1, analysis.num_layers)
            self.head.clear()
            for head in (MEAN_HEAD, *range(analysis.num_heads)):
                self.head.addItem(head_text(head), head)
        self.setEnabled(True)
        self._show(self._state.layer, self._state.head)

    def _show(self, layer: int, head: int) -> None:
        with QSignalBlocker(self.layer), QSignalBlocker(self.head):
            self.layer.setValue(layer + 1 if layer >= 0 else self.layer.maximum())
            self.head.setCurrentIndex(max(0, self.head.findData(head)))

    def _on_edit(self) -> None:
        self._state.choose_layer_head(*self.layer_head())


class ImageControls(QWidget):
    """The column; see the module. `rollout` is the rollout editor, `classes` the class
    chooser, `layer_head` the layer and head chooser, `overlay` the map chooser."""

    def __init__(self, state: ExplorerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self.overlay = _compact(QComboBox())
        for key, label in OVERLAYS.items():
            self.overlay.addItem(label, key)
            self.overlay.setItemData(self.overlay.count() - 1, label, Qt.ItemDataRole.ToolTipRole)
        self.overlay.setToolTip(
            "Which patch map to paint over the image. Moving a control below, clicking an "
            "attention thumbnail or clicking a patch switches it for you."
        )
        self.overlay.setCurrentIndex(self.overlay.findData(state.overlay_kind))
        self.rollout = RolloutControls()
        self.classes = ClassChooser(state)
        self.layer_head = LayerHeadChooser(state)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 6, 0)
        layout.addWidget(_heading("Show on image"))
        layout.addWidget(self.overlay)
        layout.addSpacing(10)
        layout.addWidget(_heading("Rollout"))
        layout.addWidget(self.rollout)
        layout.addWidget(QLabel("Explain class"))
        layout.addWidget(self.classes)
        layout.addSpacing(10)
        layout.addWidget(_heading("Attention"))
        layout.addWidget(self.layer_head)
        self._layout = layout
        layout.addStretch(1)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)

        self.overlay.activated.connect(
            lambda _row: state.set_overlay_kind(self.overlay.currentData())
        )
        self.rollout.changed.connect(state.set_rollout)
        state.overlay_kind_changed.connect(self._show_kind)
        state.rollout_changed.connect(self._show_rollout)
        state.result_changed.connect(self._show_result)
        self._show_rollout(state.effective_rollout)
        # Nothing to paint a map over until an analysis has come.
        self.overlay.setEnabled(False)
        self.rollout.setEnabled(False)

    def add_picture_options(self, options: QWidget) -> None:
        """The image view's own toggles (opacity, grid, photo or model input, smooth map), at the
        foot of the column."""
        layout = self._layout
        layout.insertSpacing(layout.count() - 1, 10)
        layout.insertWidget(layout.count() - 1, _heading("Picture"))
        layout.insertWidget(layout.count() - 1, options)

    def sizeHint(self) -> QSize:
        return QSize(COLUMN_WIDTH, super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:
        return QSize(COLUMN_WIDTH, super().minimumSizeHint().height())

    def _show_kind(self, kind: str) -> None:
        with QSignalBlocker(self.overlay):
            self.overlay.setCurrentIndex(max(0, self.overlay.findData(kind)))

    def _show_rollout(self, settings: RolloutSettings) -> None:
        with QSignalBlocker(self.rollout):
            self.rollout.set_settings(settings)

    def _show_result(self, result: ImageResult) -> None:
        analysis = result.analysis
        self.overlay.setEnabled(True)
        self.rollout.setEnabled(True)
        with QSignalBlocker(self.rollout):
            self.rollout.set_num_layers(analysis.num_layers)
            # Class gradients are computed on demand, so the mode is there whenever classes are.
            self.rollout.set_gradient_available(
                analysis.has_classifier, f"this model is {NO_CLASSIFIER}"
            )
            self.rollout.set_settings(self._state.effective_rollout)
