"""The settings of a fine-tune: defaults from the data, every one explained, any one overridable.

The form follows the CLI's rule for flags: a setting the user has not touched is derived from the
data by `engine.finetune.plan_finetune` and follows the others (the learning rate follows the
batch size and what trains, the warmup the epochs); a setting the user changed is kept as given.
Each field's tooltip says what it does and the rule behind its default.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from vit_studio.engine.augment import AugmentConfig
from vit_studio.engine.checkpoints import CheckpointInfo
from vit_studio.engine.data import FolderScan
from vit_studio.engine.errors import StudioError
from vit_studio.engine.finetune import DEFAULT_VAL_SHARE, FinetunePlan, plan_finetune
from vit_studio.gui.dialogs import MODEL_SUFFIXES, dialog_filter
from vit_studio.gui.finetune.choices import AUGMENT_PRESETS, FinetuneChoices

MODEL_FILTER = dialog_filter("ViT checkpoints", MODEL_SUFFIXES)
FREEZE_MODES = (
    ("none", "Every layer"),
    ("blocks", "The last blocks and the head"),
    ("backbone", "Only the new head"),
)
# What each field does; the rule behind its default is added from the plan.
DESCRIPTIONS = {
    "epochs": "Passes over the training images.",
    "batch_size": "Images per optimiser step.",
    "lr": "Peak learning rate of AdamW, reached after the warmup, then lowered along a cosine.",
    "freeze": "Which weights change. The patch embedding, class token and position embedding "
    "stay fixed whenever anything is frozen.",
    "image_size": "The size images are trained at, a multiple of the patch size; another size "
    "than the base model's resizes its position embeddings.",
    "augment": "How training images are varied each epoch. light: random crops and flips; "
    "strong: also TrivialAugment and random erasing; off: none.",
    "mixup": "Mixup alpha: blend pairs of images and their labels (0: off).",
    "cutmix": "CutMix alpha: paste a box of one image into another, labels mixed by area (0: off).",
    "label_smoothing": "Share of each target spread over the other classes: a little keeps the "
    "model from becoming overconfident.",
    "warmup_epochs": "Epochs over which the learning rate rises linearly from zero.",
    "seed": "Decides the sample order and the augmentation: the same seed and settings give the "
    "same model, in the GUI and with vit-studio finetune.",
    "val_share": "Share of each class held out to validate on (ignored for a folder with val/).",
}
FIELDS = tuple(DESCRIPTIONS)


class ScientificSpinBox(QDoubleSpinBox):
    """A spin box for learning rates: shows and accepts 2.5e-04 style numbers."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDecimals(12)
        self.setRange(1e-8, 1.0)

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


class SettingsForm(QWidget):
    """Base model, the main settings and an Advanced section.

    `changed` whenever the choices change; `valShareChanged(share)` when the validation share is
    edited (the split, so the report, changes); `baseModelChosen(path)` when the user picks
    another base model.
    """

    changed = Signal()
    valShareChanged = Signal(float)
    baseModelChosen = Signal(Path)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scan: FolderScan | None = None
        self._base: CheckpointInfo | None = None
        self._plan: FinetunePlan | None = None
        self._rules: dict[str, str] = {}
        self._chosen: set[str] = set()
        self._share = DEFAULT_VAL_SHARE
        self._updating = False

        self._base_combo = QComboBox()
        self._base_combo.setToolTip(
            "The model to start from: its encoder is kept, its head is replaced by one for your "
            "classes. By default the model open in the explorer."
        )
        self._base_combo.addItem("Choose a model file…", None)
        self._base_combo.activated.connect(self._on_base_activated)
        self._has_explorer_item = False
        self._base_row = 0

        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1000)
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 4096)
        self.lr = ScientificSpinBox()
        self.freeze_mode = QComboBox()
        for key, label in FREEZE_MODES:
            self.freeze_mode.addItem(label, key)
        self.freeze_blocks = QSpinBox()
        self.freeze_blocks.setRange(1, 1)
        self.freeze_blocks.setSuffix(" blocks")
        self.image_size = QSpinBox()
        self.image_size.setRange(1, 2048)
        self.image_size.setSuffix(" px")
        self.augment = QComboBox()
        for name in AUGMENT_PRESETS:
            self.augment.addItem(name, name)
        self.mixup = _spin(0.0, 10.0, 0.1, 2)
        self.cutmix = _spin(0.0, 10.0, 0.1, 2)
        self.label_smoothing = _spin(0.0, 0.9, 0.05, 3)
        self.warmup_epochs = _spin(0.0, 100.0, 0.5, 2)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.val_share = _spin(0.0, 0.9, 0.05, 2)
        self.val_share.setValue(DEFAULT_VAL_SHARE)

        freeze_row = QHBoxLayout()
        freeze_row.setContentsMargins(0, 0, 0, 0)
        freeze_row.addWidget(self.freeze_mode, 1)
        freeze_row.addWidget(self.freeze_blocks)
        self._labels: dict[str, QLabel] = {}
        main = QFormLayout()
        main.addRow("Base model", self._base_combo)
        for name, label, field in (
            ("epochs", "Epochs", self.epochs),
            ("batch_size", "Batch size", self.batch_size),
            ("lr", "Learning rate", self.lr),
            ("freeze", "What trains", freeze_row),
            ("image_size", "Image size", self.image_size),
        ):
            self._labels[name] = QLabel(label)
            main.addRow(self._labels[name], field)

        self._advanced_button = QToolButton()
        self._advanced_button.setText("Advanced")
        self._advanced_button.setCheckable(True)
        self._advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self._advanced_button.setToolTip(
            "Augmentation, Mixup/CutMix, label smoothing, warmup, seed, validation share"
        )
        self._advanced_button.toggled.connect(self._show_advanced)
        self._advanced = QWidget()
        advanced = QFormLayout(self._advanced)
        advanced.setContentsMargins(0, 0, 0, 0)
        for name, label, field in (
            ("augment", "Augmentation", self.augment),
            ("mixup", "Mixup alpha", self.mixup),
            ("cutmix", "CutMix alpha", self.cutmix),
            ("label_smoothing", "Label smoothing", self.label_smoothing),
            ("warmup_epochs", "Warmup epochs", self.warmup_epochs),
            ("seed", "Seed", self.seed),
            ("val_share", "Validation share", self.val_share),
        ):
            self._labels[name] = QLabel(label)
            advanced.addRow(self._labels[name], field)
        self._show_advanced(False)

        self._reset = QPushButton("Reset to Defaults")
        self._reset.setToolTip("Forget your changes: every setting follows the data again")
        self._reset.clicked.connect(self.reset_defaults)
        self._message = QLabel()
        self._message.setWordWrap(True)
        self._message.setStyleSheet("color: #9b1c1c;")
        self._summary = QLabel()
        self._summary.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addLayout(main)
        layout.addWidget(self._advanced_button)
        layout.addWidget(self._advanced)
        layout.addWidget(self._summary)
        layout.addWidget(self._message)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self._reset)
        layout.addLayout(row)
        layout.addStretch(1)

        for name, signal in (
            ("epochs", self.epochs.valueChanged),
            ("batch_size", self.batch_size.valueChanged),
            ("lr", self.lr.valueChanged),
            ("freeze", self.freeze_mode.currentIndexChanged),
            ("freeze", self.freeze_blocks.valueChanged),
            ("image_size", self.image_size.valueChanged),
            ("augment", self.augment.currentIndexChanged),
            ("mixup", self.mixup.valueChanged),
            ("cutmix", self.cutmix.valueChanged),
            ("label_smoothing", self.label_smoothing.valueChanged),
            ("warmup_epochs", self.warmup_epochs.valueChanged),
            ("seed", self.seed.valueChanged),
        ):
            signal.connect(lambda _value, n=name: self._edited(n))
        self.val_share.editingFinished.connect(self._on_val_share)
        self._set_fields_enabled(False)
        self._update_tooltips()

    # --- context --------------------------------------------------------------------------------

    def set_explorer_model(self, path: Path, name: str) -> None:
        """Offer the explorer's model first, and follow it unless another model was picked."""
        label = f"Open in the explorer: {name}"
        combo = self._base_combo
        if self._has_explorer_item:
            following = combo.currentIndex() == 0
            combo.setItemText(0, label)
            combo.setItemData(0, path)
        else:
            following = self.base_path() is None
            combo.insertItem(0, label, path)
            self._has_explorer_item = True
        combo.setItemData(0, str(path), Qt.ItemDataRole.ToolTipRole)
        if following:
            self._pick_row(0)

    def set_base_model(self, path: Path) -> None:
        """Pick `path` as the base model (added to the list if new)."""
        combo = self._base_combo
        row = combo.findData(path)
        if row < 0:
            row = combo.count() - 1  # just before "Choose a model file…"
            combo.insertItem(row, path.name, path)
            combo.setItemData(row, str(path), Qt.ItemDataRole.ToolTipRole)
        self._pick_row(row)

    def _pick_row(self, row: int) -> None:
        self._base_combo.setCurrentIndex(row)
        self._base_row = row
        self.baseModelChosen.emit(self._base_combo.itemData(row))

    def base_path(self) -> Path | None:
        return self._base_combo.currentData()

    def set_data(self, scan: FolderScan | None) -> None:
        self._scan = scan
        self._replan()

    def set_base(self, info: CheckpointInfo | None) -> None:
        """The base model's architecture, which several defaults depend on."""
        self._base = info
        if info is not None:
            arch = info.arch
            with _Updating(self):
                self.freeze_blocks.setRange(1, arch.num_layers)
                self.image_size.setSingleStep(arch.patch_size)
                self.image_size.setMinimum(arch.patch_size)
        self._replan()

    def set_locked(self, locked: bool) -> None:
        """Freeze the form while a run uses its settings."""
        self._set_fields_enabled(not locked and self._plan is not None)
        self._base_combo.setEnabled(not locked)

    # --- values ---------------------------------------------------------------------------------

    def plan(self) -> FinetunePlan | None:
        return self._plan

    def choices(self) -> FinetuneChoices | None:
        """The settings to run with; None until a folder and a base model are known."""
        if self._plan is None:
            return None
        # Values not chosen come from the plan itself, not from the widgets, which round.
        return FinetuneChoices.from_plan(self._plan, self._share)

    def val_share_value(self) -> float:
        """The validation share the folder is to be split with."""
        return self._share

    def chosen(self) -> frozenset[str]:
        """The settings the user has set (the others follow the data)."""
        return frozenset(self._chosen)

    def reset_defaults(self) -> None:
        self._chosen.clear()
        share_changed = self._share != DEFAULT_VAL_SHARE
        self._share = DEFAULT_VAL_SHARE
        with _Updating(self):
            self.val_share.setValue(DEFAULT_VAL_SHARE)
        self._replan()
        if share_changed:
            self.valShareChanged.emit(DEFAULT_VAL_SHARE)

    def error(self) -> str:
        return self._message.text()

    # --- reacting -------------------------------------------------------------------------------

    def _edited(self, name: str) -> None:
        if self._updating:
            return
        self._chosen.add(name)
        self._replan()

    def _on_val_share(self) -> None:
        share = self.val_share.value()
        if share != self._share:
            self._share = share
            self._chosen.add("val_share")
            self._update_tooltips()
            self.valShareChanged.emit(share)

    def _on_base_activated(self, row: int) -> None:
        if self._base_combo.itemData(row) is not None:
            self._pick_row(row)
            return
        chosen, _ = QFileDialog.getOpenFileName(self, "Base Model", "", MODEL_FILTER)
        if chosen:
            self.set_base_model(Path(chosen))
        else:
            self._base_combo.setCurrentIndex(self._base_row)

    def _given(self) -> dict:
        """The chosen settings as `plan_finetune` arguments."""
        given: dict = {}
        for name in ("epochs", "batch_size", "lr", "label_smoothing", "warmup_epochs", "seed"):
            if name in self._chosen:
                given[name] = getattr(self, name).value()
        if "freeze" in self._chosen:
            given["freeze"] = self._freeze_value()
        if self._chosen & {"augment", "mixup", "cutmix"}:
            # Built as FinetuneChoices.augment_config (and the CLI) build it: a preset whose
            # Mixup and CutMix are replaced where the user set them.
            preset = AugmentConfig.preset(self.augment.currentData())
            given["augment"] = replace(
                preset,
                mixup_alpha=self.mixup.value() if "mixup" in self._chosen else preset.mixup_alpha,
                cutmix_alpha=(
                    self.cutmix.value() if "cutmix" in self._chosen else preset.cutmix_alpha
                ),
            )
        if "image_size" in self._chosen:
            given["image_size"] = self.image_size.value()
        return given

    def _replan(self) -> None:
        if self._scan is None or self._base is None:
            self._plan = None
            self._set_fields_enabled(False)
            self._summary.setText("Choose a folder and a base model to see the settings.")
            self.changed.emit()
            return
        arch = self._base.arch
        try:
            self._rules = dict(plan_finetune(self._scan, arch).reasons)
            plan = plan_finetune(self._scan, arch, **self._given())
        except StudioError as exc:
            self._message.setText(str(exc))
            self._plan = None
            self.changed.emit()
            return
        if plan.image_size % arch.patch_size:
            fitting = plan.image_size - plan.image_size % arch.patch_size
            self._message.setText(
                f"The image size must be a multiple of the base model's patch size "
                f"({arch.patch_size} px), e.g. {fitting} px."
            )
            self._plan = None
            self.changed.emit()
            return
        self._message.clear()
        self._plan = plan
        self._show_plan(plan)
        self._set_fields_enabled(True)
        self._update_tooltips()
        self._summary.setText(f"<b>Run:</b> {plan.describe()}.")
        self.changed.emit()

    def _show_plan(self, plan: FinetunePlan) -> None:
        config = plan.config
        values = FinetuneChoices.from_plan(plan)
        with _Updating(self):
            self.epochs.setValue(config.epochs)
            self.batch_size.setValue(config.batch_size)
            self.lr.setValue(config.lr)
            mode = "blocks" if config.freeze.isdigit() else config.freeze
            self.freeze_mode.setCurrentIndex(self.freeze_mode.findData(mode))
            if config.freeze.isdigit():
                self.freeze_blocks.setValue(int(config.freeze))
            self.freeze_blocks.setEnabled(mode == "blocks")
            self.image_size.setValue(plan.image_size)
            self.augment.setCurrentIndex(self.augment.findData(values.augment))
            self.mixup.setValue(values.mixup)
            self.cutmix.setValue(values.cutmix)
            self.label_smoothing.setValue(config.label_smoothing)
            self.warmup_epochs.setValue(config.warmup_epochs)
            self.seed.setValue(config.seed)

    def _freeze_value(self) -> str:
        mode = self.freeze_mode.currentData()
        return str(self.freeze_blocks.value()) if mode == "blocks" else mode

    def _update_tooltips(self) -> None:
        for name in FIELDS:
            text = DESCRIPTIONS[name]
            rule = self._rules.get(name)
            if rule:
                text += f"\n\nDefault: {rule}."
            if name in self._chosen:
                text += "\n\nYou set this; Reset to Defaults makes it follow the data again."
            self._labels[name].setToolTip(text)
            label = self._labels[name].text().rstrip(" *")
            self._labels[name].setText(label + (" *" if name in self._chosen else ""))
            for widget in self._widgets(name):
                widget.setToolTip(text)

    def _widgets(self, name: str) -> tuple[QWidget, ...]:
        if name == "freeze":
            return (self.freeze_mode, self.freeze_blocks)
        return (getattr(self, name),)

    def _set_fields_enabled(self, enabled: bool) -> None:
        for name in FIELDS:
            for widget in self._widgets(name):
                widget.setEnabled(enabled)
        if enabled:
            self.freeze_blocks.setEnabled(self.freeze_mode.currentData() == "blocks")
        self._reset.setEnabled(enabled)

    def _show_advanced(self, shown: bool) -> None:
        self._advanced.setVisible(shown)
        self._advanced_button.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        )


class _Updating:
    """Marks value changes made by the form itself, so they do not count as the user's."""

    def __init__(self, form: SettingsForm) -> None:
        self._form = form

    def __enter__(self) -> None:
        self._form._updating = True

    def __exit__(self, *_exc: object) -> None:
        self._form._updating = False


def _spin(low: float, high: float, step: float, decimals: int) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setDecimals(decimals)
    return spin
