"""The plain callbacks long engine work reports through, so no front end's machinery leaks in.

Work that takes long takes `progress(done, total)` (or `StageProgress(what, done, total)` when it
has several stages) and polls `cancel()` between its chunks, batches or steps; when `cancel()`
answers True it raises `errors.Cancelled`. The CLI turns progress into a terminal bar, the GUI
into signals (`gui.workers`).
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int], None]  # (done, total)
StageProgress = Callable[[str, int, int], None]  # (what is being done, done, total)
Cancel = Callable[[], bool]  # True: stop, raising errors.Cancelled
