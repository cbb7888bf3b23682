"""What the loaded model is (architecture, size, patch grid, classes), and the models on disk."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from vit_studio.engine.model import NO_CLASSIFIER
from vit_studio.gui.state.results import ModelSummary

if TYPE_CHECKING:
    from vit_studio.engine.checkpoints.discovery import LocalModel

FIND_TEXT = "Find models on this computer…"
NONE_FOUND_TEXT = "No models found on this computer · Look again…"
SEARCHED_PLACES = "the bundled folder, the torch hub cache and the Hugging Face cache"
MAX_LIST_ROWS = 8  # a longer list scrolls
CLASS_PREVIEW = 6  # class names written out; the tooltip lists (nearly) all of them
CLASS_TOOLTIP = 60
BREAK = "\u200b"  # zero-width space: where a long path or model name may wrap


def format_count(count: int) -> str:
    """86567656 -> '86.6 M'."""
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return str(count)


def _breakable(text: str) -> str:
    """`text` able to wrap after path separators, dots, dashes and underscores: a label that
    cannot wrap a long path makes the side column (and the window) as wide as the path."""
    return re.sub(r"([/\\._-])", r"\1" + BREAK, text)


def _class_text(names: tuple[str, ...], limit: int) -> str:
    shown = ", ".join(names[:limit])
    return f"{shown}, … ({len(names) - limit} more)" if len(names) > limit else shown


class ModelPanel(QWidget):
    """The loaded model's card, and a list of the models found on this computer (one line
    until some are found).

    `modelChosen(path)` when the user opens one from the list (double-click or the button);
    `scanRequested()` when the user asks to look for models.
    """

    modelChosen = Signal(Path)
    scanRequested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._fields: dict[str, QLabel] = {}
        card = QGroupBox("Loaded model")
        form = QFormLayout(card)
        rows = (
            ("name", "Name", "The model's name, from its file"),
            (
                "architecture",
                "Architecture",
                "Encoder layers, attention heads per layer, token width and MLP width",
            ),
            ("parameters", "Parameters", "Number of trainable weights"),
            (
                "image",
                "Image size",
                "Input resolution: the image is resized, then centre-cropped to this square",
            ),
            ("grid", "Patch grid", "How the input is cut into patches, one token each"),
            ("classes", "Classes", "The labels the classification head predicts"),
            ("device", "Runs on", "Where the model computes; change it in the toolbar"),
            ("file", "File", "Where the model was loaded from"),
        )
        for key, label, tip in rows:
            value = QLabel("—")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setToolTip(tip)
            caption = QLabel(label)
            caption.setToolTip(tip)
            form.addRow(caption, value)
            self._fields[key] = value

        # The models on this computer: one line until there is something to list.
        self.find_button = QPushButton(FIND_TEXT)
        self.find_button.setToolTip(f"Look for ViTs in {SEARCHED_PLACES}")
        self.find_button.clicked.connect(self.scanRequested)
        self.local_models = QListWidget()
        self.local_models.setToolTip(
            "Bundled models and ViTs in the torch hub and Hugging Face caches; "
            "double-click one to open it"
        )
        self.local_models.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.local_models.itemActivated.connect(self._on_activated)
        self.open_button = QPushButton("Open selected model")
        self.open_button.setToolTip("Load the selected model (the current image is analysed again)")
        self.open_button.clicked.connect(self._on_open_clicked)
        self.open_button.setEnabled(False)
        self.local_models.currentItemChanged.connect(
            lambda item, _previous: self.open_button.setEnabled(item is not None)
        )
        self._local_title = QLabel()
        self._found = QWidget()
        found = QVBoxLayout(self._found)
        found.setContentsMargins(0, 0, 0, 0)
        found.addWidget(self._local_title)
        found.addWidget(self.local_models)
        found.addWidget(self.open_button)
        self._found.hide()

        layout = QVBoxLayout(self)
        layout.addWidget(card)
        layout.addWidget(self.find_button)
        layout.addWidget(self._found)
        layout.addStretch(1)

    def field(self, key: str) -> str:
        """The text shown for one row of the card (see the keys in __init__)."""
        return self._fields[key].text().replace(BREAK, "")

    def show_model(self, summary: ModelSummary) -> None:
        arch = summary.arch
        values = {
            "name": _breakable(summary.name),
            "architecture": f"{arch.num_layers} layers × {arch.num_heads} heads "
            f"({summary.heads_source}), width {arch.hidden_dim}, MLP {arch.mlp_dim}",
            "parameters": format_count(summary.num_parameters),
            "image": f"{arch.image_size} × {arch.image_size} px (resized to "
            f"{summary.resize_size}, centre-cropped)",
            "grid": f"{arch.grid_size} × {arch.grid_size} patches of {arch.patch_size} px "
            f"({arch.num_patches} tokens + class token)",
            "classes": f"{len(summary.class_names)}: "
            f"{_class_text(summary.class_names, CLASS_PREVIEW)}"
            if summary.class_names
            else "none (a backbone)",
            "device": summary.device_label,
            "file": _breakable(str(summary.path)),
        }
        for key, text in values.items():
            self._fields[key].setText(text)
        self._fields["classes"].setToolTip(
            _class_text(summary.class_names, CLASS_TOOLTIP)
            if summary.class_names
            else f"This model is {NO_CLASSIFIER}."
        )

    def show_local_models(self, models: list[LocalModel]) -> None:
        """List `models`; none found stays one line, offering to look again."""
        self.local_models.clear()
        for model in models:
            arch = model.arch
            item = QListWidgetItem(
                f"{model.name} — {arch.num_layers}L {arch.num_heads}H {arch.image_size}px, "
                + (f"{arch.num_classes} classes" if arch.has_classifier else "no classifier")
            )
            item.setToolTip(f"{model.path}\n{model.format} checkpoint, {model.source}")
            item.setData(Qt.ItemDataRole.UserRole, str(model.path))
            self.local_models.addItem(item)
        rows = min(len(models), MAX_LIST_ROWS)
        frame = 2 * self.local_models.frameWidth()
        self.local_models.setFixedHeight(rows * self.local_models.sizeHintForRow(0) + frame + 2
                                         if rows else 0)  # fmt: skip
        self._local_title.setText(f"Models on this computer ({len(models)})")
        self._found.setVisible(bool(models))
        self.find_button.setEnabled(True)
        self.find_button.setText(NONE_FOUND_TEXT)
        self.find_button.setVisible(not models)

    def show_searching(self) -> None:
        self.find_button.show()
        self.find_button.setEnabled(False)
        self.find_button.setText("Looking for models on this computer…")

    def local_models_text(self) -> str:
        """What the models-on-this-computer part says in its one line ('' while it lists)."""
        return self.find_button.text() if self.find_button.isVisibleTo(self) else ""

    def _on_activated(self, item: QListWidgetItem) -> None:
        self.modelChosen.emit(Path(item.data(Qt.ItemDataRole.UserRole)))

    def _on_open_clicked(self) -> None:
        item = self.local_models.currentItem()
        if item is not None:
            self._on_activated(item)
