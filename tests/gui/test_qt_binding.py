"""The Qt binding keeps Python's reference counts intact (PySide6 6.12.0 on CPython 3.11 did not:
every call of a void Qt function released a reference to None it never took, and the app
aborted with "deallocating None" after some thousands of calls)."""

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel

CALLS = 200  # enough to see a leak, few enough not to abort the test run itself


class _Emitter(QObject):
    fired = Signal(int)


def test_void_calls_and_signal_emits_keep_none_true_and_false_alive(qtbot):
    label = QLabel()
    qtbot.addWidget(label)
    emitter = _Emitter()
    emitter.fired.connect(lambda _value: None)
    before = [sys.getrefcount(x) for x in (None, True, False)]
    for _ in range(CALLS):
        label.setText("x")
        emitter.fired.emit(1)
    after = [sys.getrefcount(x) for x in (None, True, False)]
    # Immortal objects (CPython 3.12+) report a constant count; others may drift a little.
    assert all(b - a < CALLS // 2 for a, b in zip(after, before, strict=True)), (before, after)
