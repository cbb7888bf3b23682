"""The settings of a fine-tune: defaults from the data, every one explained, any one overridable.

Its fields are made from the engine's settings table (`engine.training.settings`), the same
table the `vit-studio finetune` flags come from: what each does, its bounds and its default rule.
The form follows the CLI's rule for flags: a setting the user has not touched is derived from the
data by `plan_finetune` and follows the others (the learning rate follows the batch size and what
trains, the warmup the epochs); a setting the user changed is kept as given. Each field's tooltip
says what it does and the rule behind its default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from vit_studio.engine.checkpoints import CheckpointInfo
from vit_studio.engine.checkpoints.reading import MODEL_SUFFIXES
from vit_studio.engine.data import FolderScan
from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import ViTArch
from vit_studio.engine.training.plan import DEFAULT_VAL_SHARE, RunPlan, plan_finetune
from vit_studio.engine.training.settings import DATA, FINETUNE, LEARNING, SHAPE, settings_for
from vit_studio.gui import questions
from vit_studio.gui.dialogs import dialog_filter
from vit_studio.gui.finetune.setting_editors import (
    FreezeEditor,
    NumberEditor,
    SettingEditor,
    editor_for,
)
from vit_studio.gui.state.results import HeadCountRequest

MODEL_FILTER = dialog_filter("ViT checkpoints", MODEL_SUFFIXES)
# The settings the form shows: everything a fine-tune learns with (where and how fast it runs
# follows the explorer's device).
FORM_SETTINGS = settings_for(FINETUNE, LEARNING, SHAPE, DATA)


class SettingsForm(QWidget):
    """Base model, the main settings and an Advanced section.

    `changed` whenever the values change; `valShareChanged(share)` when the validation share is
    edited (the split, so the report, changes); `baseModelChosen(path, num_heads)` when the user
    picks another base model (`num_heads`: the count the user gave for a file that does not
    record it, else None).
    """

    changed = Signal()
    valShareChanged = Signal(float)
    baseModelChosen = Signal(Path, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scan: FolderScan | None = None
        self._base: CheckpointInfo | None = None
        self._base_heads: dict[Path, int] = {}  # head counts the user gave, by base model
        self._plan: RunPlan | None = None
        self._rules: dict[str, str] = {}
        self._chosen: dict[str, Any] = {}

        self._base_combo = QComboBox()
        self._base_combo.setToolTip(
            "The model to start from: its encoder is kept, its head is replaced by one for your "
            "classes. By default the model open in the explorer."
        )
        self._base_combo.addItem("Choose a model file…", None)
        self._base_combo.activated.connect(self._on_base_activated)
        self._has_explorer_item = False
        self._base_row = 0

        self._editors: dict[str, SettingEditor] = {}
        self._labels: dict[str, QLabel] = {}
        main = QFormLayout()
        main.addRow("Base model", self._base_combo)
        self._advanced = QWidget()
        advanced = QFormLayout(self._advanced)
        advanced.setContentsMargins(0, 0, 0, 0)
        for entry in FORM_SETTINGS:
            editor = editor_for(entry)
            editor.edited.connect(lambda name=entry.name: self._edited(name))
            self._editors[entry.name] = editor
            self._labels[entry.name] = QLabel(entry.label)
            (advanced if entry.advanced else main).addRow(self._labels[entry.name], editor)
        self._editors["val_share"].display(DEFAULT_VAL_SHARE)

        self._advanced_button = QToolButton()
        self._advanced_button.setText("Advanced")
        self._advanced_button.setCheckable(True)
        self._advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self._advanced_button.setToolTip(
            ", ".join(entry.label for entry in FORM_SETTINGS if entry.advanced)
        )
        self._advanced_button.toggled.connect(self._show_advanced)
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
        self._set_fields_enabled(False)
        self._update_tooltips()

    # --- context --------------------------------------------------------------------------------

    def set_explorer_model(self, path: Path, name: str, num_heads: int | None = None) -> None:
        """Offer the explorer's model first, and follow it unless another model was picked;
        `num_heads`: the count the user gave the explorer for it (not asked again)."""
        if num_heads is not None:
            self._base_heads[path] = num_heads
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

    def base_path(self) -> Path | None:
        return self._base_combo.currentData()

    def base_arch(self) -> ViTArch | None:
        """The base model's architecture, once its file has been read."""
        return None if self._base is None else self._base.arch

    def base_num_heads(self) -> int | None:
        """The head count the user gave for the base model, if its file does not record it."""
        return self._base_heads.get(self.base_path())

    def ask_head_count(self, request: HeadCountRequest) -> None:
        """The base model's file does not say its head count: ask, then read it again."""
        heads = questions.ask_head_count(self, request)
        if heads is None:
            self._message.setText(request.message)
            return
        self._base_heads[request.path] = heads
        self.baseModelChosen.emit(request.path, heads)

    def set_data(self, scan: FolderScan | None) -> None:
        self._scan = scan
        self._replan()

    def set_base(self, info: CheckpointInfo | None) -> None:
        """The base model's architecture, which several defaults depend on."""
        self._base = info
        if info is not None:
            arch = info.arch
            freeze = self._editors["freeze"]
            assert isinstance(freeze, FreezeEditor)
            freeze.set_layers(arch.num_layers)
            size = self._editors["image_size"]
            assert isinstance(size, NumberEditor)
            size.set_range(arch.patch_size, 2048, arch.patch_size)
        self._replan()

    def set_locked(self, locked: bool) -> None:
        """Freeze the form while a run uses its settings."""
        self._set_fields_enabled(not locked and self._plan is not None)
        self._base_combo.setEnabled(not locked)

    # --- values ---------------------------------------------------------------------------------

    def plan(self) -> RunPlan | None:
        return self._plan

    def values(self) -> dict[str, Any] | None:
        """Every setting to run with, by name; None until a folder and a base model are known.

        They come from the plan itself, not from the widgets, which round.
        """
        return None if self._plan is None else self._plan.values()

    def value(self, name: str) -> Any:
        """The value the field of setting `name` shows."""
        return self._editors[name].value()

    def set_value(self, name: str, value: Any) -> None:
        """Set a field as the user would: the value is kept as chosen."""
        self._editors[name].enter(value)

    def label(self, name: str) -> str:
        """The field's label; a chosen setting's ends with " *"."""
        return self._labels[name].text()

    def tooltip(self, name: str) -> str:
        return self._labels[name].toolTip()

    def is_editable(self, name: str) -> bool:
        return self._editors[name].isEnabled()

    def val_share_value(self) -> float:
        """The validation share the folder is to be split with."""
        return float(self._chosen.get("val_share", DEFAULT_VAL_SHARE))

    def chosen(self) -> frozenset[str]:
        """The settings the user has set (the others follow the data)."""
        return frozenset(self._chosen)

    def reset_defaults(self) -> None:
        share_changed = self.val_share_value() != DEFAULT_VAL_SHARE
        self._chosen.clear()
        self._editors["val_share"].display(DEFAULT_VAL_SHARE)
        self._replan()
        if share_changed:
            self.valShareChanged.emit(DEFAULT_VAL_SHARE)

    def error(self) -> str:
        return self._message.text()

    # --- reacting -------------------------------------------------------------------------------

    def _edited(self, name: str) -> None:
        value = self._editors[name].value()
        if name == "val_share":
            if value == self.val_share_value():
                return
            self._chosen[name] = value
            self._update_tooltips()
            self.valShareChanged.emit(value)
            return
        self._chosen[name] = value
        self._replan()

    def _pick_row(self, row: int) -> None:
        self._base_combo.setCurrentIndex(row)
        self._base_row = row
        path = self._base_combo.itemData(row)
        self.baseModelChosen.emit(path, self._base_heads.get(path))

    def _on_base_activated(self, row: int) -> None:
        if self._base_combo.itemData(row) is not None:
            self._pick_row(row)
            return
        chosen, _ = QFileDialog.getOpenFileName(self, "Base Model", "", MODEL_FILTER)
        if chosen:
            self.set_base_model(Path(chosen))
        else:
            self._base_combo.setCurrentIndex(self._base_row)

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
            plan = plan_finetune(self._scan, arch, **self._chosen)
        except StudioError as exc:
            self._message.setText(str(exc))
            self._plan = None
            self.changed.emit()
            return
        self._message.clear()
        self._plan = plan
        for name, value in plan.values().items():
            if name in self._editors:  # the time budget has no field: it follows the epochs
                self._editors[name].display(value)
        self._set_fields_enabled(True)
        self._update_tooltips()
        self._summary.setText(f"<b>Run:</b> {plan.describe()}.")
        self.changed.emit()

    def _update_tooltips(self) -> None:
        for entry in FORM_SETTINGS:
            text = entry.help
            rule = self._rules.get(entry.name) or entry.default_for(FINETUNE)
            text += f"\n\nDefault: {rule}."
            if entry.name in self._chosen:
                text += "\n\nYou set this; Reset to Defaults makes it follow the data again."
            label = self._labels[entry.name]
            label.setToolTip(text)
            label.setText(entry.label + (" *" if entry.name in self._chosen else ""))
            self._editors[entry.name].setToolTip(text)

    def _set_fields_enabled(self, enabled: bool) -> None:
        for editor in self._editors.values():
            editor.setEnabled(enabled)
        self._reset.setEnabled(enabled)

    def _show_advanced(self, shown: bool) -> None:
        self._advanced.setVisible(shown)
        self._advanced_button.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        )
