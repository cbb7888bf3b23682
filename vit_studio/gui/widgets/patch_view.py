"""One patch up close: where it attends in a chosen layer and head, and how its position
embedding compares with every other patch's."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from vit_studio.engine.analysis import Analysis
from vit_studio.gui.state.overlay import (
    ATTENTION_LABEL,
    MEAN_HEAD,
    SIMILARITY_COLORMAP,
    SIMILARITY_LABEL,
    head_text,
    patch_label,
)
from vit_studio.gui.widgets.image_view import ImageView


class PatchView(QWidget):
    """Two maps for the selected patch. `layerHeadChanged(layer, head)` when the user changes
    the layer or head here (0-based, head -1 = mean over heads)."""

    layerHeadChanged = Signal(int, int)
    patchClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._analysis: Analysis | None = None
        self._patch: int | None = None
        self._hint = QLabel("Click a patch on the image to inspect it.")
        self._hint.setWordWrap(True)
        self._layer = QSpinBox()
        self._layer.setRange(1, 1)
        self._layer.setToolTip("Which layer's attention to show (1 = first)")
        self._head = QComboBox()
        self._head.setToolTip("One head's attention, or the mean over all heads of the layer")
        self._attends = ImageView(controls=False)
        self._attends.setToolTip("Where the selected patch looks: its attention to every patch")
        self._similar = ImageView(controls=False)
        self._similar.setToolTip(
            "Cosine similarity of the selected patch's position embedding to every patch's: "
            "the model's learned sense of where the patch is"
        )
        for view in (self._attends, self._similar):
            view.patchClicked.connect(self.patchClicked)

        selectors = QFormLayout()
        selectors.addRow("Layer", self._layer)
        selectors.addRow("Head", self._head)
        maps = QVBoxLayout()  # one above the other: the view lives in a narrow side panel
        maps.addWidget(self._attends)
        maps.addWidget(self._similar)
        layout = QFormLayout(self)
        layout.addRow(self._hint)
        layout.addRow(selectors)
        layout.addRow(maps)

        self._layer.valueChanged.connect(self._on_selector)
        self._head.currentIndexChanged.connect(self._on_selector)

    def layer_head(self) -> tuple[int, int]:
        head = self._head.currentData()
        return self._layer.value() - 1, MEAN_HEAD if head is None else int(head)

    def set_layer_head(self, layer: int, head: int) -> None:
        """Show (layer, head) without emitting `layerHeadChanged`."""
        with QSignalBlocker(self._layer), QSignalBlocker(self._head):
            self._layer.setValue(layer + 1)
            self._head.setCurrentIndex(max(0, self._head.findData(head)))
        self._redraw()

    def show_analysis(self, analysis: Analysis, patch: int | None) -> None:
        layer, head = self.layer_head()
        with QSignalBlocker(self._layer), QSignalBlocker(self._head):
            self._layer.setRange(1, analysis.num_layers)
            self._head.clear()
            self._head.addItem("mean of heads", MEAN_HEAD)
            for index in range(analysis.num_heads):
                self._head.addItem(f"head {index + 1}", index)
        self._analysis = analysis
        self._patch = patch
        self.set_layer_head(
            min(layer, analysis.num_layers - 1), head if head < analysis.num_heads else MEAN_HEAD
        )

    def set_patch(self, patch: int | None) -> None:
        self._patch = patch
        self._redraw()

    def clear(self) -> None:
        self._analysis = None
        self._patch = None
        self._redraw()

    def attention_view(self) -> ImageView:
        return self._attends

    def similarity_view(self) -> ImageView:
        return self._similar

    def _on_selector(self) -> None:
        self._redraw()
        self.layerHeadChanged.emit(*self.layer_head())

    def _redraw(self) -> None:
        analysis, patch = self._analysis, self._patch
        if analysis is None:
            self._hint.setText("Analyse an image, then click one of its patches.")
            for view in (self._attends, self._similar):
                view.clear()
            return
        g = analysis.grid_size
        for view in (self._attends, self._similar):
            view.set_image(analysis.pixels, g)
            view.select_patch(patch)
        if patch is None:
            self._hint.setText("Click a patch on the image (or here) to inspect it.")
            self._attends.clear_overlay("Where the patch attends")
            self._similar.clear_overlay("Position-embedding similarity")
            return
        layer, head = self.layer_head()
        where = patch_label(patch, g)
        self._hint.setText(f"Patch {where} (outlined).")
        self._attends.set_overlay(
            analysis.patch_attention(layer, patch, None if head == MEAN_HEAD else head),
            f"Where patch {where} attends\nlayer {layer + 1}, {head_text(head)}",
            ATTENTION_LABEL,
            vmin=0.0,
        )
        self._similar.set_overlay(
            analysis.patch_pos_similarity(patch),
            f"Position-embedding similarity\nof patch {where} to every patch",
            SIMILARITY_LABEL,
            vmin=-1.0,
            vmax=1.0,
            colormap=SIMILARITY_COLORMAP,
        )
