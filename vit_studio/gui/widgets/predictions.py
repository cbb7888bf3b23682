"""Top-k class probabilities as labelled bars; choosing a class asks for its evidence map.

A backbone has no classes: the view then says so in place of the bars, and how to get some.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from vit_studio.engine.analysis import TOP_K, Analysis, Prediction
from vit_studio.engine.model import NO_CLASSIFIER

BAR_COLOUR = QColor(90, 140, 220)
CHOSEN_COLOUR = QColor(240, 150, 30)
ROW_HEIGHT = 26
CAPTION = (
    "Bars: softmax probability. Click a class to show the class-specific (gradient) "
    "rollout for it on the image; Explain class beside the image offers every class."
)
NO_CLASSES_CAPTION = (
    f"This model is {NO_CLASSIFIER} (Fine-tune tab). Attention, rollout, positions, patches, "
    "distances and norms work without one."
)


class PredictionBars(QWidget):
    """One row per prediction: class name, a bar on a 0–100 % scale, the percentage."""

    classChosen = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._predictions: list[Prediction] = []
        self._chosen: int | None = None
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_predictions(self, predictions: list[Prediction], chosen: int | None) -> None:
        self._predictions = predictions
        self._chosen = chosen
        self.updateGeometry()
        self.update()

    def set_chosen(self, chosen: int | None) -> None:
        self._chosen = chosen
        self.update()

    def predictions(self) -> list[Prediction]:
        return list(self._predictions)

    def sizeHint(self) -> QSize:
        return QSize(320, max(1, len(self._predictions)) * ROW_HEIGHT + 4)

    def minimumSizeHint(self) -> QSize:
        return QSize(200, self.sizeHint().height())

    def row_rect(self, row: int) -> QRect:
        return QRect(0, 2 + row * ROW_HEIGHT, self.width(), ROW_HEIGHT)

    def row_at(self, y: float) -> int | None:
        row = int((y - 2) // ROW_HEIGHT)
        return row if 0 <= row < len(self._predictions) else None

    def paintEvent(self, event: QPaintEvent) -> None:
        if not self._predictions:
            return
        painter = QPainter(self)
        metrics = self.fontMetrics()
        name_width = min(
            max(metrics.horizontalAdvance(p.label) for p in self._predictions) + 12,
            self.width() // 2,
        )
        value_width = metrics.horizontalAdvance("100.0 %") + 8
        bar_width = max(10, self.width() - name_width - value_width)
        normal = self.font()
        bold = QFont(normal)
        bold.setBold(True)
        for row, prediction in enumerate(self._predictions):
            rect = self.row_rect(row)
            chosen = prediction.index == self._chosen
            painter.setFont(bold if chosen else normal)
            painter.setPen(self.palette().text().color())
            name = metrics.elidedText(prediction.label, Qt.TextElideMode.ElideRight, name_width - 8)
            painter.drawText(
                QRect(0, rect.y(), name_width - 8, rect.height()),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                name,
            )
            track = QRect(name_width, rect.y() + 5, bar_width, rect.height() - 10)
            painter.fillRect(track, self.palette().alternateBase())
            filled = QRect(track)
            filled.setWidth(max(1, round(track.width() * prediction.probability)))
            painter.fillRect(filled, CHOSEN_COLOUR if chosen else BAR_COLOUR)
            painter.drawText(
                QRect(name_width + bar_width + 6, rect.y(), value_width, rect.height()),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                f"{prediction.probability:.1%}",
            )

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        row = self.row_at(event.position().y())
        if row is None:
            self.setToolTip("")
            self.unsetCursor()
            return
        prediction = self._predictions[row]
        self.setToolTip(
            f"{prediction.label}: {prediction.probability:.2%} (class {prediction.index}). "
            "Click to show the class-specific rollout: the patches that are evidence for it."
        )
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        row = self.row_at(event.position().y())
        if event.button() == Qt.MouseButton.LeftButton and row is not None:
            self.classChosen.emit(self._predictions[row].index)


class PredictionsView(QWidget):
    """The top-k predictions of an analysis; `classChosen(index)` when the user clicks a bar.
    (Any class, predicted or not, is chosen beside the image: `image_controls.ClassChooser`.)"""

    classChosen = Signal(int)

    def __init__(self, parent: QWidget | None = None, top_k: int = TOP_K) -> None:
        super().__init__(parent)
        self._top_k = top_k
        self._title = QLabel("No predictions yet")
        font = self._title.font()
        font.setBold(True)
        self._title.setFont(font)
        self._bars = PredictionBars()
        self._bars.classChosen.connect(self.classChosen)
        self._caption = QLabel(CAPTION)
        self._caption.setWordWrap(True)
        self._ablation = QLabel("")  # what knocking out heads changed, beside the original
        self._ablation.setWordWrap(True)
        self._ablation.setToolTip(
            "Ctrl-click a head under Attention to knock it out (its output zeroed) and run the "
            "model once more; Ctrl-click more to knock out several."
        )
        layout = QVBoxLayout(self)
        layout.addWidget(self._title)
        layout.addWidget(self._bars)
        layout.addWidget(self._caption)
        layout.addWidget(self._ablation)
        layout.addStretch(1)

    @property
    def bars(self) -> PredictionBars:
        return self._bars

    def caption(self) -> str:
        return self._caption.text()

    def show_analysis(self, analysis: Analysis, chosen: int | None = None) -> None:
        classified = analysis.has_classifier
        self._bars.setVisible(classified)
        self._caption.setText(CAPTION if classified else NO_CLASSES_CAPTION)
        if not classified:
            self._title.setText(f"No classes: {analysis.model_name} has no classifier")
            self._bars.set_predictions([], None)
            return
        top = analysis.top_k(self._top_k)
        self._title.setText(f"Top {len(top)} of {len(analysis.class_names)} classes")
        self._bars.set_predictions(top, chosen)

    def set_chosen(self, chosen: int | None) -> None:
        """Mark the class the class-specific rollout explains; does not emit."""
        self._bars.set_chosen(chosen)

    def show_ablation(
        self, analysis: Analysis, heads: tuple[tuple[int, int], ...], probs: np.ndarray
    ) -> None:
        """The top classes of `analysis` with `heads` (layer, head; 0-based) knocked out, beside
        the original probabilities."""
        names = ", ".join(f"L{layer + 1} H{head + 1}" for layer, head in heads)
        changes = "; ".join(
            f"{p.label} {p.probability:.1%} → {probs[p.index]:.1%}"
            for p in analysis.top_k(self._top_k)
        )
        best = int(np.argmax(probs))
        verdict = (
            "the prediction stays" if best == analysis.top_k(1)[0].index
            else f"the prediction becomes {analysis.class_names[best]}"
        )
        self._ablation.setText(f"<b>{names} knocked out</b> ({verdict}): {changes}")

    def clear_ablation(self) -> None:
        self._ablation.clear()

    def ablation_text(self) -> str:
        return self._ablation.text()

    def clear(self) -> None:
        self._ablation.clear()
        self._title.setText("No predictions yet")
        self._bars.set_predictions([], None)
