"""What the soak run (`soak_gui.py`) watches in the window's process: resident memory, threads,
the GUI thread's stalls and slow events, and every error, traceback and Qt message."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

from PySide6.QtCore import QTimer, qInstallMessageHandler
from PySide6.QtWidgets import QApplication

TICK_MS = 10
STALL_MS = 100.0  # gaps longer than this are counted
SLOW_EVENT_MS = 50  # events the GUI thread took longer than this to handle are listed


def resident_mb() -> float:
    """The process's resident memory now (Linux: /proc; elsewhere its peak, said so)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (2**20 if sys.platform == "darwin" else 2**10)


def os_threads() -> int:
    """Threads of this process the system knows (Qt's and torch's too), else Python's."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


class Heartbeat:
    """A 10 ms QTimer on the GUI thread; a stall is the longest gap between two of its ticks.

    Each gap also records the GUI thread's own CPU time in it: a long gap the thread spent
    computing is work done on the wrong thread; one it spent waiting is the machine's other
    load (or another thread holding the GIL)."""

    def __init__(self, last_action) -> None:
        self._last_action = last_action
        self._timer = QTimer()
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._previous = self._previous_cpu = 0.0
        self.longest_ms = self.longest_cpu_ms = 0.0
        self.longest_after = ""
        self.gaps_over_target = 0

    def start(self) -> None:
        self._previous, self._previous_cpu = time.perf_counter(), time.thread_time()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        gap = (now - self._previous) * 1000.0
        gap_cpu = (cpu - self._previous_cpu) * 1000.0
        self._previous, self._previous_cpu = now, cpu
        if gap > STALL_MS:
            self.gaps_over_target += 1
        if gap > self.longest_ms:
            self.longest_ms, self.longest_cpu_ms = gap, gap_cpu
            self.longest_after = self._last_action()


class TimedApplication(QApplication):
    """Times every event the GUI thread delivers (queued signals, paints, timers): what took
    longer than SLOW_EVENT_MS, by receiver and event type, with its count and longest time.
    Events sent inside another are timed too, so a stall shows with what it was made of."""

    def __init__(self, argv: list[str]) -> None:
        super().__init__(argv)
        # (receiver, event) -> (count, longest ms, its CPU ms on the GUI thread)
        self.slow_events: dict[tuple[str, str], tuple[int, float, float]] = {}
        self._gui_thread = threading.get_ident()

    def notify(self, receiver, event) -> bool:
        if threading.get_ident() != self._gui_thread:  # a worker's own events: not a stall
            return super().notify(receiver, event)
        # Named before it is handled: handling may delete the receiver (a deferred delete).
        name = receiver.objectName() if hasattr(receiver, "objectName") else ""
        key = (type(receiver).__name__ + (f" {name!r}" if name else ""), event.type().name)
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            return super().notify(receiver, event)
        finally:
            took = (time.perf_counter() - started) * 1000.0
            if took > SLOW_EVENT_MS:
                n, longest, longest_cpu = self.slow_events.get(key, (0, 0.0, 0.0))
                if took > longest:
                    longest, longest_cpu = took, (time.thread_time() - cpu) * 1000.0
                self.slow_events[key] = (n + 1, longest, longest_cpu)


class Problems:
    """Every error message the window shows, traceback, logged error and Qt warning."""

    def __init__(self, provoked_marker: str) -> None:
        self._marker = provoked_marker
        self.errors: Counter[tuple[str, bool]] = Counter()  # (message, provoked)
        self.tracebacks: list[str] = []
        self.qt_messages: Counter[str] = Counter()
        sys.excepthook = self._excepthook
        threading.excepthook = lambda args: self._excepthook(
            args.exc_type, args.exc_value, args.exc_traceback
        )
        qInstallMessageHandler(self._qt_message)
        logging.getLogger().addHandler(_Recorder(self))

    def error(self, message: str) -> None:
        self.errors[(message, self._marker in message)] += 1

    def _excepthook(self, kind, value, trace) -> None:
        text = "".join(traceback.format_exception(kind, value, trace))
        self.tracebacks.append(text)
        print(text, file=sys.stderr)

    def _qt_message(self, mode, context, message: str) -> None:
        self.qt_messages[f"{mode.name}: {message}"] += 1


class _Recorder(logging.Handler):
    def __init__(self, problems: Problems) -> None:
        super().__init__(logging.ERROR)
        self._problems = problems

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        if record.exc_info:
            self._problems.tracebacks.append(text)
        else:
            self._problems.error(text)
