"""`WorkerThread`, the one way the GUI runs work in the background: jobs run in their own
thread in order, the newest job of a kind wins, stale results are dropped, failures come back
as one line, and the thread stops when asked."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QThread

from tests.gui.conftest import WAIT_MS
from vit_studio.engine.errors import Cancelled, StudioError
from vit_studio.gui.workers.thread import WorkerThread


@pytest.fixture
def worker(qtbot):
    worker = WorkerThread("test worker")
    yield worker
    assert worker.stop()


def until_cancelled(release: threading.Event):
    """A job that runs until it is superseded (or `release` is set), as engine work polls."""

    def work(context):
        while not context.cancelled():
            if release.wait(0.005):
                return "released"
        raise Cancelled

    return work


def test_work_runs_in_the_workers_thread_and_its_result_comes_back_on_the_gui_thread(
    qtbot, worker
):
    where = {}

    def work(_context):
        where["work"] = QThread.currentThread()
        return 42

    results = []
    worker.submit("sum", work, doing="adding",
                  done=lambda value: results.append((value, QThread.currentThread())))
    qtbot.waitUntil(lambda: bool(results), timeout=WAIT_MS)
    value, gui_thread = results[0]
    assert value == 42 and where["work"] is not gui_thread


def test_the_newest_job_of_a_kind_supersedes_the_running_and_the_queued_ones(qtbot, worker):
    release = threading.Event()
    done, ended = [], []
    worker.submit("scan", until_cancelled(release), doing="scanning A", done=done.append,
                  ended=lambda: ended.append("A"))  # fmt: skip
    worker.submit("scan", lambda _c: "B", doing="scanning B", done=done.append,
                  ended=lambda: ended.append("B"))  # fmt: skip
    worker.submit("scan", lambda _c: "C", doing="scanning C", done=done.append,
                  ended=lambda: ended.append("C"))  # fmt: skip
    qtbot.waitUntil(lambda: len(ended) == 3, timeout=WAIT_MS)
    assert done == ["C"] and ended == ["A", "B", "C"]  # every job ends; only C's result counts


def test_jobs_of_other_kinds_are_not_superseded(qtbot, worker):
    done = []
    worker.submit("model", lambda _c: "model", doing="loading", done=done.append)
    worker.submit("analysis", lambda _c: "analysis", doing="analysing", done=done.append)
    qtbot.waitUntil(lambda: len(done) == 2, timeout=WAIT_MS)
    assert done == ["model", "analysis"]


def test_cancelling_a_kind_drops_what_its_job_still_reports(qtbot, worker):
    release = threading.Event()
    reports, cancelled = [], []

    def work(context):
        context.report(reports.append, "before")
        context.report(worker.cancel, "export")  # the user clicks Cancel meanwhile
        while not context.cancelled():
            release.wait(0.005)
        context.report(reports.append, "after")
        raise Cancelled

    worker.submit("export", work, doing="exporting", cancelled=lambda: cancelled.append(True))
    qtbot.waitUntil(lambda: not worker.busy, timeout=WAIT_MS)
    assert reports == ["before"] and cancelled == []  # superseded: nothing more of it arrives


def test_a_job_that_stops_itself_is_told_as_cancelled(qtbot, worker):
    cancelled = []

    def work(_context):
        raise Cancelled

    worker.submit("run", work, doing="training", cancelled=lambda: cancelled.append(True))
    qtbot.waitUntil(lambda: bool(cancelled), timeout=WAIT_MS)


def test_failures_come_back_as_one_line_and_the_thread_carries_on(qtbot, worker):
    messages, done = [], []

    def broken(_context):
        raise ValueError("first line\nsecond line")

    def refused(_context):
        raise StudioError("a.png: not an image; save it as a PNG")

    worker.submit("a", broken, doing="analysing a.png", failed=messages.append)
    worker.submit("b", refused, doing="analysing a.png", failed=messages.append)
    worker.submit("c", lambda _c: "still here", doing="more", done=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=WAIT_MS)
    assert messages == [
        "unexpected error while analysing a.png: ValueError: first line",
        "a.png: not an image; save it as a PNG",
    ]


def test_the_advice_for_running_out_of_memory_can_fit_the_job(qtbot, worker):
    messages = []

    def too_big(_context):
        raise MemoryError

    worker.submit("run", too_big, doing="training", failed=messages.append,
                  memory_fix="lower the batch size")  # fmt: skip
    qtbot.waitUntil(lambda: bool(messages), timeout=WAIT_MS)
    assert messages == ["out of memory while training; lower the batch size"]


def test_busy_from_the_first_job_until_the_last_and_results_see_it_idle(qtbot, worker):
    changes, seen = [], []
    worker.busyChanged.connect(changes.append)
    worker.submit("a", lambda _c: 1, doing="a")
    worker.submit("b", lambda _c: 2, doing="b", done=lambda _v: seen.append(worker.busy))
    qtbot.waitUntil(lambda: bool(seen), timeout=WAIT_MS)
    assert changes == [True, False] and seen == [False]


def test_setup_runs_in_the_thread_before_any_job(qtbot):
    where = []
    worker = WorkerThread("with setup", setup=lambda: where.append(QThread.currentThread()))
    try:
        done = []
        worker.submit("a", lambda _c: QThread.currentThread(), doing="a", done=done.append)
        qtbot.waitUntil(lambda: bool(done), timeout=WAIT_MS)
        assert where == done
    finally:
        assert worker.stop()


def test_stop_supersedes_what_runs_and_ends_the_thread(qtbot):
    worker = WorkerThread("stopping")
    started = threading.Event()
    release = threading.Event()

    def work(context):
        started.set()
        return until_cancelled(release)(context)

    done = []
    worker.submit("long", work, doing="waiting", done=done.append)
    assert started.wait(WAIT_MS / 1000)
    assert worker.stop()
    assert done == []
    with pytest.raises(RuntimeError, match="stopped"):
        worker.submit("long", work, doing="waiting")


def test_a_held_thread_takes_jobs_but_starts_only_when_released(qtbot):
    # The explorer holds its inference thread (and torch's import) until the window is painted.
    setups = []
    worker = WorkerThread("held", setup=lambda: setups.append("setup"), held=True)
    try:
        done = []
        worker.submit("model", lambda _c: "model", doing="loading", done=done.append)
        worker.submit("analysis", lambda _c: "analysis", doing="analysing", done=done.append)
        qtbot.wait(100)
        assert setups == [] and done == [] and worker.busy  # waiting, not lost
        worker.release()
        qtbot.waitUntil(lambda: len(done) == 2, timeout=WAIT_MS)
        assert setups == ["setup"] and done == ["model", "analysis"]
    finally:
        assert worker.stop()


def test_a_thread_not_held_starts_with_its_first_job(qtbot):
    # The control: without `held`, the same jobs run without a release.
    worker = WorkerThread("not held")
    try:
        done = []
        worker.submit("model", lambda _c: "model", doing="loading", done=done.append)
        qtbot.waitUntil(lambda: bool(done), timeout=WAIT_MS)
        assert done == ["model"]
    finally:
        assert worker.stop()
