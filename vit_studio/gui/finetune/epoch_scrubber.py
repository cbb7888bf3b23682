"""Watch the model learn: what it was after each epoch, one slider to scrub through them.

Per kept epoch: the validation confusion matrix (click a cell for its images) with the accuracy
of each class beside it, the similarity of the position embeddings (ViT Figure 7), and the
attention rollout of one fixed validation image. The epochs and the one shown are the session's
(`FinetuneSession.snapshots`, `scrubbed_epoch`): the slider follows the newest epoch until the
user moves it back.

The three views stand in a row where the panel is wide enough for them, the confusion matrix
above the other two side by side where it is not, and one under the other in the narrowest
panel (the fine-tune panel in the side column of a small window); the page scrolls then.

A run resumed in the same session keeps the epochs shown before, so the slider spans the whole
run. Epochs trained before the views could be kept (a run resumed from its checkpoint file in a
new session) have nothing to show; a note under the slider says which epochs it covers.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from vit_studio.gui.finetune.cell_images import CellImages
from vit_studio.gui.finetune.class_table import ClassAccuracyTable
from vit_studio.gui.finetune.confusion import ConfusionMatrixView
from vit_studio.gui.state.finetune import FinetuneSession
from vit_studio.gui.state.finetune_phases import PanelState
from vit_studio.gui.state.finetune_results import EpochSnapshot, RunStarted
from vit_studio.gui.widgets.image_view import ImageView
from vit_studio.gui.widgets.posembed_view import PosEmbedMosaic

ROOMY = 1.15  # times the least width of an arrangement of the views, for it to be used
STACKED_HEIGHT = 300  # pixels each stacked view keeps, so that its square charts stay readable
# How the three views stand, from the widest panel to the narrowest.
ROW, TWO_ROWS, COLUMN = "row", "two rows", "column"


class EpochScrubber(QWidget):
    """The per-epoch views and the slider, following `session`; `epochChanged(epoch)` when
    another epoch is shown."""

    epochChanged = Signal(int)

    def __init__(self, session: FinetuneSession, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._session = session
        self._cell: tuple[int, int] | None = None

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Which epoch the views below show (0: before fine-tuning)")
        self.slider.setPageStep(1)
        self.slider.valueChanged.connect(self._scrub)
        self._epoch_label = QLabel("–")
        self._epoch_label.setMinimumWidth(self.fontMetrics().horizontalAdvance("Epoch 000 of 000"))
        self._coverage = QLabel()
        self._coverage.setWordWrap(True)
        self.confusion = ConfusionMatrixView()
        self.confusion.cellClicked.connect(self.select_cell)
        self.class_table = ClassAccuracyTable()
        self.mosaic = PosEmbedMosaic()
        self.mosaic.setToolTip(
            "Each tile: cosine similarity of one patch's position embedding to every other "
            "patch's. Scrub the epochs to see whether fine-tuning changes how the model encodes "
            "positions: the position embeddings train only when every layer does (What trains: "
            "Every layer)."
        )
        self.rollout = ImageView(controls=False)
        self.rollout.setToolTip(
            "Attention rollout of the same validation image after each epoch: where the class "
            "token gathers its information from, through all layers (Abnar & Zuidema 2020)."
        )
        self._probe_label = QLabel()
        self._probe_label.setWordWrap(True)
        self._probe_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.cell_images = CellImages()

        controls = QHBoxLayout()
        controls.addWidget(QLabel("Epoch"))
        controls.addWidget(self.slider, 1)
        controls.addWidget(self._epoch_label)
        rollout_box = QWidget()
        rollout_layout = QVBoxLayout(rollout_box)
        rollout_layout.setContentsMargins(0, 0, 0, 0)
        rollout_layout.addWidget(self.rollout, 1)
        rollout_layout.addWidget(self._probe_label)
        # The confusion matrix, and the pair of the other two: two splitters whose orientations
        # make the row, the two rows or the column.
        self._pair = QSplitter(Qt.Orientation.Horizontal)
        self.views = QSplitter(Qt.Orientation.Horizontal)
        matrix_box = QWidget()
        matrix_layout = QHBoxLayout(matrix_box)
        matrix_layout.setContentsMargins(0, 0, 0, 0)
        matrix_layout.addWidget(self.confusion, 1)
        matrix_layout.addWidget(self.class_table)
        for splitter, widgets in (
            (self._pair, (self.mosaic, rollout_box)),
            (self.views, (matrix_box, self._pair)),
        ):
            splitter.setChildrenCollapsible(False)
            for widget in widgets:
                splitter.addWidget(widget)
        self._pair.setSizes([330, 300])
        self.views.setSizes([400, 630])
        # What each arrangement needs, measured on the views' least widths.
        handle = self.views.handleWidth()
        least = [w.minimumSizeHint().width() for w in (matrix_box, self.mosaic, rollout_box)]
        self._least_width = {ROW: sum(least) + 2 * handle,
                             TWO_ROWS: max(least[0], least[1] + least[2] + handle)}  # fmt: skip
        self._arrangement = ROW
        column = QSplitter(Qt.Orientation.Vertical)
        column.setChildrenCollapsible(False)
        column.addWidget(self.views)
        column.addWidget(self.cell_images)
        column.setStretchFactor(0, 1)
        column.setSizes([440, 110])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(controls)
        layout.addWidget(self._coverage)
        layout.addWidget(column, 1)
        self.clear()
        session.run_started.connect(self._on_run_started)
        session.epoch_added.connect(lambda _snapshot: self._update_range())
        session.scrubbed.connect(self._show_epoch_of_session)
        session.phase_changed.connect(self._on_phase)

    def arrangement(self) -> str:
        """How the views stand: `ROW`, `TWO_ROWS` (the confusion matrix above the other two)
        or `COLUMN`, by the room the panel gives them."""
        return self._arrangement

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        width = event.size().width()
        arrangement = next(
            (a for a in (ROW, TWO_ROWS) if width >= ROOMY * self._least_width[a]), COLUMN
        )
        if arrangement == self._arrangement:
            return
        self._arrangement = arrangement
        horizontal, vertical = Qt.Orientation.Horizontal, Qt.Orientation.Vertical
        self.views.setOrientation(horizontal if arrangement == ROW else vertical)
        self._pair.setOrientation(vertical if arrangement == COLUMN else horizontal)
        for view in (self.views.widget(0), self.mosaic, self._pair.widget(1)):
            view.setMinimumHeight(0 if arrangement == ROW else STACKED_HEIGHT)

    # --- following the session ------------------------------------------------------------------

    def clear(self) -> None:
        self._cell = None
        self.slider.setRange(0, 0)
        self.slider.setEnabled(False)
        self._epoch_label.setText("–")
        self._coverage.clear()
        self._coverage.hide()
        self.confusion.clear("Validation results appear once the run has started.")
        self.class_table.clear()
        self.mosaic.clear()
        self.rollout.clear()
        self.rollout.set_placeholder("The rollout of a validation image appears here.")
        self._probe_label.clear()
        self.cell_images.clear()

    def _on_phase(self, phase: PanelState) -> None:
        if phase == PanelState.PREPARING and not self._session.snapshots:
            self.clear()  # a new run: the last one's epochs are gone

    def _on_run_started(self, _run: RunStarted) -> None:
        if self._session.snapshots:  # a resumed run keeps the epochs shown before
            self._update_range()
            self._show_epoch_of_session(self._session.scrubbed_epoch)
        else:
            self.clear()

    def _scrub(self, index: int) -> None:
        snapshots = self._session.snapshots
        if 0 <= index < len(snapshots):
            self._session.scrub_to(snapshots[index].epoch)

    def _show_epoch_of_session(self, epoch: int | None) -> None:
        snapshots = self._session.snapshots
        rows = [k for k, s in enumerate(snapshots) if s.epoch == epoch]
        if not rows:
            return
        with QSignalBlocker(self.slider):
            self.slider.setValue(rows[0])
        self._show(snapshots[rows[0]])

    # --- state ----------------------------------------------------------------------------------

    def snapshots(self) -> list[EpochSnapshot]:
        return list(self._session.snapshots)

    def coverage(self) -> str:
        """The note on which epochs have views ('' when the slider covers the run from 0)."""
        return self._coverage.text() if self._coverage.isVisibleTo(self) else ""

    def shown(self) -> EpochSnapshot | None:
        """The snapshot on screen."""
        return self._session.snapshot(self._session.scrubbed_epoch)

    def show_epoch(self, epoch: int) -> None:
        """Scrub to `epoch` (one that was kept)."""
        self._session.scrub_to(epoch)

    def show_biggest_confusion(self) -> None:
        """The newest epoch, with the cell of its most frequent mistake (or else the first
        class's correct predictions) and its images selected."""
        snapshots = self._session.snapshots
        if not snapshots:
            return
        newest = snapshots[-1]
        self.show_epoch(newest.epoch)
        if newest.confusion is None:
            return
        mistakes = newest.confusion - np.diag(np.diag(newest.confusion))
        true_class, predicted = np.unravel_index(mistakes.argmax(), mistakes.shape)
        if mistakes[true_class, predicted] == 0:
            true_class = predicted = 0
        self.select_cell(int(true_class), int(predicted))

    def select_cell(self, true_class: int, predicted: int) -> None:
        """List the images of one cell of the shown epoch's confusion matrix."""
        self._cell = (true_class, predicted)
        self.confusion.select(true_class, predicted)
        self._show_cell()

    # --- drawing --------------------------------------------------------------------------------

    def _update_range(self) -> None:
        snapshots = self._session.snapshots
        if not snapshots:
            return
        with QSignalBlocker(self.slider):
            self.slider.setRange(0, len(snapshots) - 1)
        self.slider.setEnabled(len(snapshots) > 1)
        first, last = snapshots[0].epoch, snapshots[-1].epoch
        if first == 0:
            self._coverage.hide()
            return
        epochs = f"Epoch {first} is" if first == last else f"Epochs {first} to {last} are"
        self._coverage.setText(
            f"{epochs} kept: this run was resumed here after epoch {first}, and the views of "
            "its earlier epochs were not kept."
        )
        self._coverage.show()

    def _show(self, snapshot: EpochSnapshot) -> None:
        newest = self._session.snapshots[-1]
        last = newest.info.epochs if newest.info else snapshot.epoch
        self._epoch_label.setText(
            "Before training" if snapshot.epoch == 0 else f"Epoch {snapshot.epoch} of {last}"
        )
        self._show_confusion(snapshot)
        self.mosaic.show_similarity(snapshot.pos_similarity)
        self._show_rollout(snapshot)
        self._show_cell()
        self.epochChanged.emit(snapshot.epoch)

    def _show_confusion(self, snapshot: EpochSnapshot) -> None:
        validation = self._validation
        if snapshot.confusion is None or validation is None:
            why = (
                "No validation images to score the starting model on."
                if snapshot.epoch == 0
                else f"No validation in epoch {snapshot.epoch}."
            )
            self.confusion.clear(why)
            self.class_table.clear()
            return
        accuracy = snapshot.confusion.trace() / max(1, snapshot.confusion.sum())
        when = "before fine-tuning" if snapshot.epoch == 0 else f"epoch {snapshot.epoch}"
        self.confusion.show_matrix(
            snapshot.confusion,
            validation.class_names,
            f"Validation, {when}: {accuracy:.1%} correct",
        )
        self.class_table.show_confusion(snapshot.confusion, validation.class_names)
        if self._cell is not None:
            self.confusion.select(*self._cell)

    @property
    def _validation(self):
        run = self._session.run
        return run.validation if run is not None else None

    def _show_rollout(self, snapshot: EpochSnapshot) -> None:
        run = self._session.run
        probe = run.probe if run is not None else None
        if probe is None:
            return
        grid = snapshot.rollout.shape[0]
        self.rollout.set_image(probe.pixels, grid)
        when = "before training" if snapshot.epoch == 0 else f"after epoch {snapshot.epoch}"
        self.rollout.set_overlay(
            snapshot.rollout,
            f"Attention rollout {when}",
            "attention (max 1)",
            vmin=0.0,
            vmax=1.0,
        )
        names = run.class_names
        probs = snapshot.probe_probabilities
        best = int(probs.argmax())
        if np.ptp(probs) < 1e-6:  # the new head starts at zero: no class is preferred yet
            verdict = f"the new head gives every class {probs[best]:.0%}"
        else:
            verdict = f"the model says '{names[best]}' ({probs[best]:.0%})"
        self._probe_label.setText(f"{probe.path.name}, a '{names[probe.label]}': {verdict}")

    def _show_cell(self) -> None:
        snapshot = self.shown()
        if self._cell is None or snapshot is None or self._validation is None:
            return
        if snapshot.probabilities is None:
            self.cell_images.clear()
            return
        self.cell_images.show_cell(
            self._validation, snapshot.probabilities, *self._cell, epoch=snapshot.epoch
        )


def scrolled_page(curves: QWidget, scrubber: EpochScrubber) -> QScrollArea:
    """The Training page: the curves above the scrubber. It scrolls where the scrubber's views
    stack, so that the controls under the page stay in sight."""
    training = QSplitter(Qt.Orientation.Vertical)
    training.setChildrenCollapsible(False)
    training.addWidget(curves)
    training.addWidget(scrubber)
    training.setSizes([230, 600])
    training.setStretchFactor(1, 1)
    page = QScrollArea()
    page.setWidgetResizable(True)
    page.setFrameShape(QFrame.Shape.NoFrame)
    page.setWidget(training)
    return page
