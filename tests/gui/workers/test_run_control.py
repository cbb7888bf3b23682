"""Pause and cancel across threads, and rates and time left that leave the pauses out."""

from __future__ import annotations

import threading
import time

from vit_studio.engine.training import StepInfo
from vit_studio.gui.workers.run_control import Pacer, RunControl


def wait_until_waiting(control: RunControl, trainer: threading.Thread, timeout: float = 5.0):
    """Until the trainer blocks in `poll`; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not control.waiting:
        assert time.monotonic() < deadline, "the trainer never paused"
        trainer.join(0.001)


def paused_trainer(control: RunControl) -> tuple[threading.Thread, list[bool]]:
    """A trainer thread that polls `control` once, started while paused and now waiting; the
    list receives what its poll answered."""
    control.pause()
    answers: list[bool] = []
    trainer = threading.Thread(target=lambda: answers.append(control.poll()))
    trainer.start()
    wait_until_waiting(control, trainer)
    return trainer, answers


def test_poll_blocks_while_paused_until_continue():
    control = RunControl()
    trainer, answers = paused_trainer(control)
    assert trainer.is_alive() and not answers
    control.resume()
    trainer.join(5)
    assert answers == [False] and control.paused_seconds() > 0


def test_cancel_wakes_a_paused_trainer_and_stops_it():
    control = RunControl()
    trainer, answers = paused_trainer(control)
    control.cancel()
    trainer.join(5)
    assert answers == [True]
    control.reset()
    assert control.poll() is False and control.paused_seconds() == 0


def test_rates_and_time_left_leave_out_the_time_spent_paused():
    clock = iter([100.0, 110.0, 130.0])  # start, first report, second report
    paused = [0.0]
    pacer = Pacer(10, first_epoch=0, paused_seconds=lambda: paused[0], clock=lambda: next(clock))

    def step(n):
        return StepInfo(epoch=1, epochs=2, step=n, steps_per_epoch=10, loss=1.0, acc=0.5,
                        lr=1e-3, images_per_s=0.0, eta_s=0.0)  # fmt: skip

    first = pacer.adjust(step(5))  # 5 steps of 10 images in 10 s
    assert first.images_per_s == 5.0 and first.eta_s == 30.0
    paused[0] = 15.0  # of the next 20 s, 15 were spent paused
    second = pacer.adjust(step(10))
    assert second.images_per_s == 10.0 and second.eta_s == 15.0


def test_a_resumed_runs_time_left_counts_only_the_epochs_of_this_session():
    clock = iter([0.0, 10.0])
    pacer = Pacer(10, first_epoch=1, paused_seconds=lambda: 0.0, clock=lambda: next(clock))
    info = StepInfo(epoch=2, epochs=3, step=5, steps_per_epoch=10, loss=1.0, acc=0.5, lr=1e-3,
                    images_per_s=0.0, eta_s=0.0)  # fmt: skip
    assert pacer.adjust(info).eta_s == 30.0  # 5 steps in 10 s, 15 to go
