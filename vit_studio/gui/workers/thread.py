"""`WorkerThread`: the one way the GUI runs work in the background.

Each worker thread is a `QThread` that runs jobs one after another. A job is a plain function
called in the thread with a `JobContext`; whatever it returns is handed to its `done` callback on
the GUI thread. Jobs have a kind, and the newest job of a kind supersedes the older ones: a queued
job that was superseded is skipped, a running one sees `context.cancelled()` turn True (engine
work polls it, and raises `Cancelled`), and whatever a superseded job still reports or returns is
dropped. A failure comes back as one line (`engine.errors.describe_failure`) to the job's
`failed` callback, and the thread carries on. `stop` supersedes everything and waits for the
thread with a timeout.

What a thread owns (a model, say) lives in the jobs' closures and is only ever touched from that
thread, so nothing is shared between threads but requests and plain results.

Why not superqt's `thread_worker`: it runs each call on a `QThreadPool` thread of its own choice,
while a worker here must own its model in one long-lived thread (torch's thread count is set per
thread, and a model patched for attention capture must not be shared), and the newest-request-wins
ledger and the dropping of stale results would still have to be written around it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from vit_studio.engine.errors import Cancelled, describe_failure

log = logging.getLogger(__name__)
STOP_TIMEOUT_MS = 5000


class _Ledger:
    """The newest job id of each kind, and whether the thread is stopping. Written by the GUI
    thread, read by the worker thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next = 0
        self._latest: dict[str, int] = {}
        self._stopping = False

    def issue(self, kind: str) -> int:
        with self._lock:
            self._next += 1
            self._latest[kind] = self._next
            return self._next

    def supersede(self, kinds: tuple[str, ...]) -> None:
        with self._lock:
            for kind in kinds or tuple(self._latest):
                self._next += 1
                self._latest[kind] = self._next

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._latest.clear()

    def is_current(self, kind: str, job_id: int) -> bool:
        with self._lock:
            return not self._stopping and self._latest.get(kind) == job_id


class JobContext:
    """What a job sees while it runs in the worker thread."""

    def __init__(self, ledger: _Ledger, job: _Job, runner: _Runner) -> None:
        self._ledger, self._job, self._runner = ledger, job, runner

    def cancelled(self) -> bool:
        """True once a newer job of the same kind, `cancel` or `stop` superseded this one."""
        return not self._ledger.is_current(self._job.kind, self._job.id)

    def report(self, callback: Callable[..., None], *args: Any) -> None:
        """Call `callback(*args)` on the GUI thread (in order, and only if still current)."""
        self._runner.delivered.emit(_Delivery(self._job, callback, args))


@dataclass(frozen=True)
class _Job:
    id: int
    kind: str
    doing: str  # for messages: "analysing cat.jpg"
    work: Callable[[JobContext], Any]
    done: Callable[[Any], None] | None
    failed: Callable[[str], None] | None
    cancelled: Callable[[], None] | None
    ended: Callable[[], None] | None
    memory_fix: str | None  # what to do about too little memory, if not the usual


@dataclass(frozen=True)
class _Delivery:
    job: _Job
    callback: Callable[..., None] | None
    args: tuple = ()
    settles: bool = False  # the job's last word: it no longer counts as pending


class _Runner(QObject):
    """Lives in the worker thread and runs the jobs it is sent, one at a time."""

    delivered = Signal(object)  # _Delivery

    def __init__(self, ledger: _Ledger, setup: Callable[[], None] | None) -> None:
        super().__init__()
        self._ledger = ledger
        self._setup = setup

    @Slot()
    def setup(self) -> None:
        if self._setup is not None:
            self._setup()

    @Slot(object)
    def run(self, job: _Job) -> None:
        outcome = _Delivery(job, None, settles=True)  # skipped: superseded before it started
        try:
            if self._ledger.is_current(job.kind, job.id):
                value = job.work(JobContext(self._ledger, job, self))
                outcome = _Delivery(job, job.done, (value,), settles=True)
        except Cancelled:
            outcome = _Delivery(job, job.cancelled, settles=True)
        except Exception as exc:  # every failure must reach the user and leave the thread alive
            message = describe_failure(exc, job.doing, memory_fix=job.memory_fix)
            outcome = _Delivery(job, job.failed, (message,), settles=True)
        finally:
            self.delivered.emit(outcome)


class WorkerThread(QObject):
    """A thread of its own that runs jobs in order; see the module."""

    busyChanged = Signal(bool)  # True from the first pending job until none is left

    _submitted = Signal(object)  # _Job, to the runner in its thread

    def __init__(
        self, name: str, parent: QObject | None = None, *, setup: Callable[[], None] | None = None,
        held: bool = False,
    ) -> None:  # fmt: skip
        """`setup` runs first in the new thread (e.g. to set torch's thread count there); a
        `held` thread takes jobs but starts only once `release` is called."""
        super().__init__(parent)
        self._held = held
        self._ledger = _Ledger()
        self._pending: dict[int, str] = {}  # job id -> kind; the GUI thread's own
        self._runner = _Runner(self._ledger, setup)
        self._submitted.connect(self._runner.run)
        self._runner.delivered.connect(self._deliver)
        self._thread = QThread(self)
        self._thread.setObjectName(name)
        self._runner.moveToThread(self._thread)
        self._thread.started.connect(self._runner.setup)
        self._stopped = False

    @property
    def busy(self) -> bool:
        """Whether any job is queued or running."""
        return bool(self._pending)

    def pending(self, kind: str) -> bool:
        """Whether a job of `kind` is queued or running."""
        return kind in self._pending.values()

    def submit(
        self,
        kind: str,
        work: Callable[[JobContext], Any],
        *,
        doing: str,
        done: Callable[[Any], None] | None = None,
        failed: Callable[[str], None] | None = None,
        cancelled: Callable[[], None] | None = None,
        ended: Callable[[], None] | None = None,
        memory_fix: str | None = None,
    ) -> int:
        """Run `work(context)` in the thread after the jobs before it, superseding every earlier
        job of `kind`; returns the job's id. Callbacks run on the GUI thread, only while the job
        is current: `done(result)`, `failed(message)`, or `cancelled()` when it raised
        `Cancelled` without being superseded; then `ended()` in every case, superseded or not.
        `memory_fix` replaces the usual advice for running out of memory (of the computer and
        of the GPU alike)."""
        if self._stopped:
            raise RuntimeError(f"the {self._thread.objectName()} thread has been stopped")
        if not self._held and not self._thread.isRunning():
            # Started by its first job: a thread never asked for anything (a folder export, a
            # second pane) costs nothing, and its setup (importing torch) waits until needed.
            self._thread.start()
        job_id = self._ledger.issue(kind)
        job = _Job(job_id, kind, doing, work, done, failed, cancelled, ended, memory_fix)
        was_busy = self.busy
        self._pending[job.id] = kind
        if not was_busy:
            self.busyChanged.emit(True)
        self._submitted.emit(job)
        return job.id

    def release(self) -> None:
        """Let a `held` thread start (now, if it has jobs waiting)."""
        self._held = False
        if self._pending and not self._stopped and not self._thread.isRunning():
            self._thread.start()

    def cancel(self, *kinds: str) -> None:
        """Supersede the jobs of `kinds` (every kind if none is named): queued ones are skipped,
        running ones see `cancelled()`, and nothing more of theirs is delivered."""
        self._ledger.supersede(kinds)

    def stop(self, timeout_ms: int = STOP_TIMEOUT_MS) -> bool:
        """Supersede every job and end the thread; True if it ended within `timeout_ms`."""
        self._stopped = True
        self._ledger.stop()
        self._thread.quit()
        stopped = self._thread.wait(timeout_ms)
        if not stopped:
            log.warning("thread %s still busy after %d ms", self._thread.objectName(), timeout_ms)
        return stopped

    @Slot(object)
    def _deliver(self, delivery: _Delivery) -> None:
        job = delivery.job
        current = self._ledger.is_current(job.kind, job.id)
        # A job's last word settles it before its callback runs (or is dropped as stale), so
        # receivers of a result already see the job as done.
        if delivery.settles and self._pending.pop(job.id, None) is not None and not self._pending:
            self.busyChanged.emit(False)
        if delivery.callback is not None and current:
            delivery.callback(*delivery.args)
        if delivery.settles and job.ended is not None:
            job.ended()

