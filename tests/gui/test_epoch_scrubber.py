"""The epoch slider and its views follow the session's epochs: which it shows, what it says it
covers, the accuracy per class, how the views stand in the room they get.

Snapshots here are made up (small random arrays): what is tested is the display, not the model;
`tests/gui/state/test_finetune_session.py` covers the bookkeeping, `test_finetune_panel` the
same with real runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication, QScrollArea

from vit_studio.engine.training import EpochInfo, TrainConfig
from vit_studio.gui.finetune.epoch_scrubber import EpochScrubber
from vit_studio.gui.state.finetune import FinetuneSession
from vit_studio.gui.state.finetune_results import EpochSnapshot, Probe, RunStarted, ValidationSet

CLASSES = ("cat", "dog")
GRID = 2
EPOCHS = 6


def validation(names: tuple[str, ...] = ("a.png", "b.png")) -> ValidationSet:
    return ValidationSet(
        class_names=CLASSES,
        thumbnails=np.zeros((len(names), 4, 4, 3), np.uint8),
        labels=np.arange(len(names)) % len(CLASSES),
        paths=tuple(Path(name) for name in names),
    )


def probe() -> Probe:
    return Probe(path=Path("a.png"), label=0, pixels=np.zeros((8, 8, 3), np.uint8))


def snapshot(epoch: int) -> EpochSnapshot:
    rng = np.random.default_rng(epoch)
    info = None
    if epoch:
        info = EpochInfo(epoch=epoch, epochs=EPOCHS, train_loss=1.0, train_acc=0.5, val_loss=1.0,
                         val_acc=0.5, val_class_acc=(0.5, 0.5), lr=1e-3, seconds=1.0,
                         images_per_s=10.0, best=False)  # fmt: skip
    return EpochSnapshot(
        epoch=epoch,
        info=info,
        probabilities=np.full((2, 2), 0.5) if epoch else None,
        confusion=np.ones((2, 2), np.int64) if epoch else None,
        pos_similarity=rng.random((GRID, GRID, GRID, GRID)),
        rollout=rng.random((GRID, GRID)),
        probe_probabilities=np.array([0.5, 0.5]),
    )


@pytest.fixture
def session(tmp_path) -> FinetuneSession:
    return FinetuneSession(tmp_path / "runs", device="cpu")


@pytest.fixture
def scrubber(qtbot, session) -> EpochScrubber:
    scrubber = EpochScrubber(session)
    qtbot.addWidget(scrubber)
    return scrubber


def run(names: tuple[str, ...] = ("a.png", "b.png"), history=()) -> RunStarted:
    return RunStarted(
        scan=None, config=TrainConfig(epochs=EPOCHS), paths=None, class_names=CLASSES,
        train_images=8, validation=validation(names), probe=probe(), history=history,
        skipped=(), command="", pixel_baseline=None,
    )  # fmt: skip


def resumed(session: FinetuneSession, tmp_path: Path, names=("a.png", "b.png")) -> None:
    """The session resumes a run from its checkpoint file, as Fine-tune ▸ Resume does."""
    checkpoint = tmp_path / "old" / "m.checkpoint.pt"
    checkpoint.parent.mkdir(exist_ok=True)
    checkpoint.write_bytes(b"a checkpoint")
    session.resume_checkpoint(checkpoint)
    session.started(run(names))


def epochs(scrubber: EpochScrubber) -> list[int]:
    return [s.epoch for s in scrubber.snapshots()]


def test_the_slider_spans_the_kept_epochs_and_shows_the_scrubbed_one(scrubber, session, tmp_path):
    resumed(session, tmp_path)
    for epoch in range(4):
        session.epoch_done(snapshot(epoch))
    assert scrubber.slider.maximum() == 3 and scrubber.shown().epoch == 3
    scrubber.slider.setValue(1)  # the user drags back: the session follows the slider
    assert session.scrubbed_epoch == 1 and scrubber.shown().epoch == 1
    session.epoch_done(snapshot(4))
    assert scrubber.slider.maximum() == 4 and scrubber.slider.value() == 1


def test_the_accuracy_of_each_class_stands_beside_the_confusion_matrix(scrubber, session, tmp_path):
    resumed(session, tmp_path)
    session.epoch_done(snapshot(1))
    # Confusion [[1, 1], [1, 1]]: each class has two images, one right.
    assert scrubber.class_table.rows() == [("cat", "2", "1", "50%"), ("dog", "2", "1", "50%")]


def test_a_new_run_starts_the_slider_afresh(scrubber, session, tmp_path):
    resumed(session, tmp_path)
    for epoch in range(3):
        session.epoch_done(snapshot(epoch))
    resumed(session, tmp_path / "old")  # another run: not the one on screen
    assert epochs(scrubber) == [] and not scrubber.slider.isEnabled()


def test_a_run_resumed_without_its_earlier_views_says_which_epochs_it_has(
    scrubber, session, tmp_path
):
    resumed(session, tmp_path)  # nothing shown before
    for epoch in (3, 4, 5):
        session.epoch_done(snapshot(epoch))
    assert scrubber.slider.minimum() == 0 and scrubber.slider.maximum() == 2
    scrubber.slider.setValue(scrubber.slider.minimum())
    assert scrubber.shown().epoch == 3
    assert scrubber.coverage() == (
        "Epochs 3 to 5 are kept: this run was resumed here after epoch 3, and the views of its "
        "earlier epochs were not kept."
    )
    scrubber.clear()
    assert scrubber.coverage() == ""


def origin(widget, scrubber) -> QPoint:
    return widget.mapTo(scrubber, QPoint(0, 0))


@pytest.mark.parametrize("width", [1200, 800, 480])
def test_the_views_stand_in_a_row_when_there_is_room_and_stack_when_there_is_not(
    qtbot, width, session, tmp_path
):
    scrubber = EpochScrubber(session)
    resumed(session, tmp_path)
    session.epoch_done(snapshot(1))
    page = QScrollArea()  # as on the Training page: its width is the panel's, whatever it holds
    qtbot.addWidget(page)
    page.setWidgetResizable(True)
    page.setWidget(scrubber)
    page.resize(width, 700)
    page.show()
    # The views rearrange as the page narrows them, until nothing is left off at the side.
    qtbot.waitUntil(lambda: page.horizontalScrollBar().maximum() == 0)
    QApplication.processEvents()
    confusion, mosaic, rollout = scrubber.confusion, scrubber.mosaic, scrubber.rollout
    first, second, third = (origin(view, scrubber) for view in (confusion, mosaic, rollout))
    if width == 1200:  # the panel over the whole window: one row
        assert first.y() == second.y() == third.y() and first.x() < second.x() < third.x()
    elif width == 800:  # the column of a 1920-pixel window: the matrix above the other two
        assert first.y() < second.y() == third.y() and second.x() < third.x()
    else:  # the column of a 1280-pixel window: one under the other
        assert first.y() < second.y() < third.y() and first.x() == second.x() == third.x()
    for view in (confusion, mosaic, rollout):  # each whole, none squeezed below its least size
        assert view.width() >= view.minimumSizeHint().width()
        assert origin(view, scrubber).x() + view.width() <= page.viewport().width()
