"""The settings of a fine-tune: defaults from the data, every one explained, any one overridable.

Its fields are made from the engine's settings table (`engine.training.settings`), the same
table the `vit-studio finetune` flags come from: what each does, its bounds and its default rule.
The form shows the session's plan (`FinetuneSession`: the CLI's rule for flags: a setting the
user has not touched is derived from the data by `plan_finetune` and follows the others, one the
user changed is kept as given) and writes the user's edits and base model to the session. Each
field's tooltip says what it does and the rule behind its default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
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
from vit_studio.engine.model import ViTArch
from vit_studio.engine.training.plan import DEFAULT_VAL_SHARE, RunPlan
from vit_studio.engine.training.settings import (
    DATA,
    FINETUNE,
    LEARNING,
    SHAPE,
    setting,
    settings_for,
)
from vit_studio.gui import questions
from vit_studio.gui.dialogs import dialog_filter
from vit_studio.gui.finetune.setting_editors import (
    FreezeEditor,
    NumberEditor,
    SettingEditor,
    editor_for,
)
from vit_studio.gui.state.finetune import FinetuneSession
from vit_studio.gui.state.finetune_phases import PanelState
from vit_studio.gui.state.results import HeadCountRequest

MODEL_FILTER = dialog_filter("ViT checkpoints", MODEL_SUFFIXES)
# The settings the form shows: everything a fine-tune learns with, and when it stops early (where
# and how fast it runs follows the explorer's device; the time budget follows the epochs).
FORM_SETTINGS = (*settings_for(FINETUNE, LEARNING, SHAPE, DATA), setting(FINETUNE, "patience"))


class SettingsForm(QWidget):
    """Base model, the main settings and an Advanced section, following `session`."""

    def __init__(self, session: FinetuneSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session

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

        self.reset_button = QPushButton("Reset to Defaults")
        self.reset_button.setToolTip("Forget your changes: every setting follows the data again")
        self.reset_button.clicked.connect(session.reset_settings)
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
        row.addWidget(self.reset_button)
        layout.addLayout(row)
        layout.addStretch(1)

        session.plan_changed.connect(self._show_plan)
        session.base_inspected.connect(self._fit_editors)
        session.head_count_needed.connect(self.ask_head_count)
        session.phase_changed.connect(self._on_phase)
        self._show_plan(session.plan)

    @property
    def session(self) -> FinetuneSession:
        return self._session

    # --- context --------------------------------------------------------------------------------

    def set_explorer_model(self, path: Path, name: str, num_heads: int | None = None) -> None:
        """Offer the explorer's model first, and follow it unless another model was picked;
        `num_heads`: the count the user gave the explorer for it (not asked again)."""
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
            self._pick_row(0, num_heads)

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
        info = self._session.base_info
        return None if info is None else info.arch

    def ask_head_count(self, request: HeadCountRequest) -> None:
        """The base model's file does not say its head count: ask, then read it again."""
        heads = questions.ask_head_count(self, request)
        if heads is None:
            self._session.head_count_refused(request)
            self._message.setText(request.message)
            return
        self._session.set_base_model(request.path, heads)

    # --- values ---------------------------------------------------------------------------------

    def plan(self) -> RunPlan | None:
        return self._session.plan

    def values(self) -> dict[str, Any] | None:
        """Every setting to run with, by name; None until a folder and a base model are known.

        They come from the plan itself, not from the widgets, which round.
        """
        plan = self._session.plan
        return None if plan is None else plan.values()

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

    def chosen(self) -> frozenset[str]:
        """The settings the user has set (the others follow the data)."""
        return frozenset(self._session.chosen)

    def error(self) -> str:
        return self._message.text()

    # --- following the session ------------------------------------------------------------------

    def _edited(self, name: str) -> None:
        self._session.set_setting(name, self._editors[name].value())
        self._update_tooltips()

    def _pick_row(self, row: int, num_heads: int | None = None) -> None:
        self._base_combo.setCurrentIndex(row)
        self._base_row = row
        self._session.set_base_model(self._base_combo.itemData(row), num_heads)

    def _on_base_activated(self, row: int) -> None:
        if self._base_combo.itemData(row) is not None:
            self._pick_row(row)
            return
        chosen, _ = QFileDialog.getOpenFileName(self, "Base Model", "", MODEL_FILTER)
        if chosen:
            self.set_base_model(Path(chosen))
        else:
            self._base_combo.setCurrentIndex(self._base_row)

    def _fit_editors(self, info: CheckpointInfo | None) -> None:
        """Bounds that depend on the base model: its blocks, its patch size."""
        if info is None:
            return
        arch = info.arch
        freeze = self._editors["freeze"]
        assert isinstance(freeze, FreezeEditor)
        freeze.set_layers(arch.num_layers)
        size = self._editors["image_size"]
        assert isinstance(size, NumberEditor)
        size.set_range(arch.patch_size, 2048, arch.patch_size)

    def _show_plan(self, plan: RunPlan | None) -> None:
        session = self._session
        self._message.setText(session.plan_error)
        if plan is None:
            self._set_fields_enabled(False)
            if not session.plan_error:
                self._summary.setText("Choose a folder and a base model to see the settings.")
            self._update_tooltips()
            return
        for name, value in plan.values().items():
            if name in self._editors:  # the time budget has no field: it follows the epochs
                self._editors[name].display(value)
        self._set_fields_enabled(not session.phase.running)
        self._update_tooltips()
        self._summary.setText(f"<b>Run:</b> {plan.describe()}.")

    def _on_phase(self, phase: PanelState) -> None:
        """Frozen while a run uses the settings."""
        self._set_fields_enabled(not phase.running and self._session.plan is not None)
        self._base_combo.setEnabled(not phase.running)

    def _update_tooltips(self) -> None:
        chosen, rules = self._session.chosen, self._session.default_reasons
        for entry in FORM_SETTINGS:
            text = entry.help
            rule = rules.get(entry.name) or entry.default_for(FINETUNE)
            text += f"\n\nDefault: {rule}."
            if entry.name in chosen:
                text += "\n\nYou set this; Reset to Defaults makes it follow the data again."
            label = self._labels[entry.name]
            label.setToolTip(text)
            label.setText(entry.label + (" *" if entry.name in chosen else ""))
            self._editors[entry.name].setToolTip(text)

    def _set_fields_enabled(self, enabled: bool) -> None:
        for editor in self._editors.values():
            editor.setEnabled(enabled)
        self.reset_button.setEnabled(enabled)

    def _show_advanced(self, shown: bool) -> None:
        self._advanced.setVisible(shown)
        self._advanced_button.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        )
