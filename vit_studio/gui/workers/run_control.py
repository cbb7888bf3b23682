"""Pause and cancel of a training run across threads, and rates that leave the pauses out.

`train` blocks the training thread for a whole run, so pause and cancel cannot travel as queued
signals: they go through a `RunControl` that the GUI thread sets and the engine polls before
every step (its `cancel` callback). Pausing blocks the training thread inside that poll until
Continue or Cancel, so the GUI never waits. Nothing here needs Qt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

from vit_studio.engine.training import StepInfo


class RunControl:
    """Pause and cancel of the current run: set from the GUI thread, polled by the trainer."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._paused = False
        self._cancelled = False
        self._waiting = False
        self._paused_seconds = 0.0

    def reset(self) -> None:
        with self._condition:
            self._paused = self._cancelled = False
            self._paused_seconds = 0.0

    def pause(self) -> None:
        with self._condition:
            self._paused = True

    def resume(self) -> None:
        with self._condition:
            self._paused = False
            self._condition.notify_all()

    def cancel(self) -> None:
        with self._condition:
            self._cancelled = True
            self._condition.notify_all()

    @property
    def paused(self) -> bool:
        with self._condition:
            return self._paused

    @property
    def cancelled(self) -> bool:
        with self._condition:
            return self._cancelled

    @property
    def waiting(self) -> bool:
        """Whether the trainer is blocked in `poll` right now (paused between two steps)."""
        with self._condition:
            return self._waiting

    def paused_seconds(self) -> float:
        """Time the trainer has spent waiting in `poll` since `reset`."""
        with self._condition:
            return self._paused_seconds

    def poll(self) -> bool:
        """The engine's per-step check: waits while paused, then says whether to stop."""
        with self._condition:
            if self._paused and not self._cancelled:
                started = time.monotonic()
                self._waiting = True
                while self._paused and not self._cancelled:
                    self._condition.wait()
                self._waiting = False
                self._paused_seconds += time.monotonic() - started
            return self._cancelled


class Pacer:
    """Images per second and time left, counting only time spent training (not paused).

    The engine's own figures count wall time, pauses included, and a resumed run's ETA would
    count the epochs done before it; `adjust` replaces both in each step report.
    """

    def __init__(
        self,
        batch_size: int,
        first_epoch: int,
        paused_seconds: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._batch = batch_size
        self._first_epoch = first_epoch
        self._paused_seconds = paused_seconds
        self._clock = clock
        self._started = clock()
        self._last: tuple[float, int] | None = None  # (active seconds, steps done)

    def adjust(self, info: StepInfo) -> StepInfo:
        active = self._clock() - self._started - self._paused_seconds()
        done = (info.epoch - 1) * info.steps_per_epoch + info.step
        first = self._first_epoch * info.steps_per_epoch
        last_active, last_done = self._last if self._last is not None else (0.0, first)
        self._last = (active, done)
        rate = (done - last_done) * self._batch / max(active - last_active, 1e-9)
        remaining = info.epochs * info.steps_per_epoch - done
        eta = remaining * active / max(done - first, 1)
        return replace(info, images_per_s=rate, eta_s=eta)
