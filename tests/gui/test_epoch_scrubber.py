"""The epoch slider across a resumed run: which epochs it keeps, and what it says it covers.

Snapshots here are made up (small random arrays): what is tested is the bookkeeping, not the
model; `test_finetune_panel` covers the same behaviour with real runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QApplication, QScrollArea

from vit_studio.engine.training import EpochInfo
from vit_studio.gui.finetune.epoch_scrubber import EpochScrubber
from vit_studio.gui.finetune.snapshots import EpochSnapshot, Probe, ValidationSet

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
def scrubber(qtbot) -> EpochScrubber:
    scrubber = EpochScrubber()
    qtbot.addWidget(scrubber)
    return scrubber


def epochs(scrubber: EpochScrubber) -> list[int]:
    return [s.epoch for s in scrubber.snapshots()]


def test_a_resumed_run_keeps_the_epochs_before_the_cancel_and_retakes_the_resumed_one(scrubber):
    scrubber.start(CLASSES, validation(), probe())
    earlier = [snapshot(epoch) for epoch in range(4)]  # cancelled during epoch 4
    for s in earlier:
        scrubber.add_snapshot(s)

    scrubber.start(CLASSES, validation(), probe(), continuing=True)  # resumed from epoch 3
    assert epochs(scrubber) == [0, 1, 2, 3] and scrubber.shown() is earlier[3]
    resumed = snapshot(3)
    scrubber.add_snapshot(resumed)
    scrubber.add_snapshot(snapshot(4))
    assert epochs(scrubber) == [0, 1, 2, 3, 4]
    assert scrubber.snapshots()[:3] == earlier[:3] and scrubber.snapshots()[3] is resumed
    assert scrubber.shown().epoch == 4  # still following the newest epoch
    assert scrubber.coverage() == ""  # every epoch from the start is there


def test_a_new_run_starts_the_slider_afresh(scrubber):
    scrubber.start(CLASSES, validation(), probe())
    for epoch in range(3):
        scrubber.add_snapshot(snapshot(epoch))
    scrubber.start(CLASSES, validation(), probe())
    assert epochs(scrubber) == [] and not scrubber.slider.isEnabled()


def test_a_resumed_run_on_other_validation_images_drops_the_earlier_epochs(scrubber):
    """Earlier predictions index the earlier validation images: shown with the new ones they
    would list the wrong images."""
    scrubber.start(CLASSES, validation(), probe())
    for epoch in range(3):
        scrubber.add_snapshot(snapshot(epoch))
    scrubber.start(CLASSES, validation(("a.png", "c.png")), probe(), continuing=True)
    assert epochs(scrubber) == []


def test_a_run_resumed_without_its_earlier_views_says_which_epochs_it_has(scrubber):
    scrubber.start(CLASSES, validation(), probe(), continuing=True)  # nothing shown before
    for epoch in (3, 4, 5):
        scrubber.add_snapshot(snapshot(epoch))
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
def test_the_views_stand_in_a_row_when_there_is_room_and_stack_when_there_is_not(qtbot, width):
    scrubber = EpochScrubber()
    scrubber.start(CLASSES, validation(), probe())
    scrubber.add_snapshot(snapshot(1))
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
