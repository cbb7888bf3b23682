"""Loss and accuracy of a run as it trains: per step report and per epoch, training and validation.

Lines are created once and their data replaced; `draw_idle` coalesces the redraws of a burst of
step reports into one paint.
"""

from __future__ import annotations

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, PercentFormatter
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QVBoxLayout, QWidget

from vit_studio.engine.training import EpochInfo, StepInfo
from vit_studio.gui.widgets.plots import PlotCanvas, legend_below

TRAIN_COLOUR = "#4a7fc1"
VAL_COLOUR = "#e07020"
LEGEND_ROW_WIDTH = 640  # pixels the legend needs on one row; narrower, it takes two


class TrainingCurves(QWidget):
    """Two charts against epochs: loss (left) and accuracy (right).

    Faint line: the training reports within epochs (each over the last few steps); dots joined
    by lines: each epoch's training mean and its validation result. A dashed line marks the
    epoch chosen below (`mark_epoch`).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure = Figure(figsize=(7.0, 2.8), layout="constrained")
        self.canvas = PlotCanvas(self.figure)
        self.canvas.setToolTip(
            "Training numbers are measured on augmented images while the model changes, with "
            "label smoothing in the loss (and, with Mixup/CutMix, accuracy against each image's "
            "dominant label). Validation numbers are the model at the end of each epoch on the "
            "held-out images: plain cross-entropy and top-1 accuracy. Validation loss rising "
            "while training loss falls means overfitting."
        )
        self.canvas.setMinimumSize(360, 180)  # below this the labels leave no room for curves
        self.loss_axes, self.acc_axes = self.figure.subplots(1, 2)
        self._lines = {}
        for axes, key, title, label in (
            (self.loss_axes, "loss", "Loss", "Cross-entropy"),
            (self.acc_axes, "acc", "Accuracy", "Top-1 accuracy"),
        ):
            (self._lines[key, "step"],) = axes.plot(
                [], [], color=TRAIN_COLOUR, alpha=0.35, lw=1, label="training (recent steps)"
            )
            (self._lines[key, "train"],) = axes.plot(
                [], [], "o-", color=TRAIN_COLOUR, ms=4, label="training (epoch mean)"
            )
            (self._lines[key, "val"],) = axes.plot(
                [], [], "s-", color=VAL_COLOUR, ms=4, label="validation"
            )
            axes.set_title(title)
            axes.set_xlabel("Epoch")
            axes.set_ylabel(label)
            axes.grid(True, alpha=0.3)
            # As many epoch ticks as the axis has room for: the narrow panel's 60 epochs crowded.
            axes.xaxis.set_major_locator(MaxNLocator("auto", integer=True, min_n_ticks=1))
        self.acc_axes.yaxis.set_major_formatter(PercentFormatter(1.0))
        self.acc_axes.set_ylim(0.0, 1.0)
        style = {"color": "#555555", "ls": ":", "lw": 1.5}
        self._baseline = self.acc_axes.axhline(0.0, visible=False, **style)
        # One legend for both charts, under them, so it never hides a curve; the baseline's
        # entry is drawn from a stand-in, as the line itself is hidden until a run starts.
        self._legend_handles = [*(self._lines["loss", kind] for kind in ("step", "train", "val")),
                                Line2D([], [], label="pixels alone", **style)]  # fmt: skip
        self._legend_columns = 0
        self._make_legend(4)
        self._marker = [axes.axvline(0, color="grey", ls="--", lw=1) for axes in self.axes()]
        self._steps: dict[str, list[tuple[float, float]]] = {"loss": [], "acc": []}
        self._epochs: list[EpochInfo] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)
        self.reset(1)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._make_legend(4 if event.size().width() >= LEGEND_ROW_WIDTH else 2)

    def legend_columns(self) -> int:
        """Entries per row of the legend: four in a wide panel, two in a narrow one."""
        return self._legend_columns

    def _make_legend(self, columns: int) -> None:
        """The legend in `columns` columns (made anew: a legend lays out its entries once)."""
        if columns == self._legend_columns:
            return
        legend_below(self.figure, self._legend_handles, columns)
        self._legend_columns = columns
        self.canvas.relayout()
        self.canvas.draw_idle()

    def axes(self) -> tuple:
        return self.loss_axes, self.acc_axes

    def reset(self, epochs: int, history: tuple[EpochInfo, ...] = ()) -> None:
        """Empty charts for a run of `epochs` epochs, with the epochs it has already done."""
        self._steps = {"loss": [], "acc": []}
        self._epochs = list(history)
        for axes in self.axes():
            axes.set_xlim(0, max(1, epochs))
        for marker in self._marker:
            marker.set_visible(False)
        self._refresh()

    def set_baseline(self, accuracy: float | None) -> None:
        """The validation accuracy of the raw pixels alone, as a line to beat (None: none)."""
        self._baseline.set_visible(accuracy is not None)
        if accuracy is not None:
            self._baseline.set_ydata([accuracy, accuracy])
        self.canvas.draw_idle()

    def baseline(self) -> float | None:
        return float(self._baseline.get_ydata()[0]) if self._baseline.get_visible() else None

    def add_step(self, info: StepInfo) -> None:
        x = info.epoch - 1 + info.step / info.steps_per_epoch
        self._steps["loss"].append((x, info.loss))
        self._steps["acc"].append((x, info.acc))
        self._refresh()

    def add_epoch(self, info: EpochInfo) -> None:
        self._epochs = [e for e in self._epochs if e.epoch < info.epoch] + [info]
        self._refresh()

    def mark_epoch(self, epoch: int | None) -> None:
        for marker in self._marker:
            marker.set_visible(epoch is not None)
            if epoch is not None:
                marker.set_xdata([epoch, epoch])
        self.canvas.draw_idle()

    def epoch_count(self) -> int:
        """Epochs plotted."""
        return len(self._epochs)

    def step_count(self) -> int:
        """Step reports plotted."""
        return len(self._steps["loss"])

    def _refresh(self) -> None:
        epochs = [e.epoch for e in self._epochs]
        validated = [e for e in self._epochs if e.val_acc is not None]
        for key in ("loss", "acc"):
            steps = self._steps[key]
            self._lines[key, "step"].set_data([x for x, _ in steps], [y for _, y in steps])
            train = [getattr(e, f"train_{key}") for e in self._epochs]
            self._lines[key, "train"].set_data(epochs, train)
            self._lines[key, "val"].set_data(
                [e.epoch for e in validated], [getattr(e, f"val_{key}") for e in validated]
            )
        losses = [y for _, y in self._steps["loss"]]
        losses += [e.train_loss for e in self._epochs]
        losses += [e.val_loss for e in validated]
        top = max(losses, default=1.0) * 1.08 or 1.0
        if top != self.loss_axes.get_ylim()[1]:
            # Other ticks, maybe wider: lay out again so the axis label stays in the figure.
            self.loss_axes.set_ylim(0.0, top)
            self.canvas.relayout()
        self.canvas.draw_idle()
