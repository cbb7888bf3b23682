"""Progress on the terminal for the long commands: tqdm bars on standard error.

On a terminal each stage (checking images, loading them, an epoch) gets a bar that redraws in
place; in a log file (no terminal) bars would only fill it with carriage returns, so a plain
progress line is printed instead, every `PLAIN_EVERY_S` seconds. Lines that stay (epoch
summaries, notes) go to standard output without breaking a bar.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

from tqdm import tqdm

from vit_studio.engine.text import clock_text

if TYPE_CHECKING:
    from vit_studio.engine.training import StepInfo

PLAIN_EVERY_S = 30.0
_STEP_BAR = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt}{postfix}"


class Console:
    """The progress of one command: `stage` and `step` feed a bar, `line` prints what stays."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._bar: tqdm | None = None
        self._bar_key: tuple | None = None
        self._last_plain = time.monotonic()  # the first plain line after PLAIN_EVERY_S

    def stage(self, what: str, done: int, total: int) -> None:
        """`StageProgress`: a bar for `what` (images checked or loaded); nothing in a log."""
        if self._tty:
            self._update((what,), total, done, desc=what, unit="img")

    def transfer(self, what: str, done: int, total: int) -> None:
        """`Progress` of a download in bytes: a bar with speed and time left on a terminal, a
        plain line every `PLAIN_EVERY_S` in a log."""
        key = ("transfer", what)
        if self._tty and self._bar_key != key:
            self.close()
            # Bytes resumed from an earlier try start the bar, not its speed.
            self._bar = tqdm(
                total=total or None, initial=done, file=self._stream, leave=False, desc=what,
                unit="B", unit_scale=True, unit_divisor=1024,
            )  # fmt: skip
            self._bar_key = key
        elif self._tty:
            self._update(key, total, done)
        elif time.monotonic() - self._last_plain >= PLAIN_EVERY_S:
            self._last_plain = time.monotonic()
            of = f" of {total / 2**20:,.1f} MiB" if total else ""
            print(f"{what}: {done / 2**20:,.1f} MiB{of}", file=self._stream, flush=True)

    def step(self, info: StepInfo) -> None:
        """A training step report: the epoch's bar with loss, accuracy, speed and time left."""
        details = (
            f"loss {info.loss:.4f}  acc {info.acc:.1%}  {info.images_per_s:,.0f} img/s  "
            f"ETA {clock_text(info.eta_s)}"
        )
        if self._tty:
            # The run's own speed and time left replace tqdm's (which know only this epoch).
            bar = self._update(
                ("epoch", info.epoch), info.steps_per_epoch, info.step,
                desc=f"epoch {info.epoch}/{info.epochs}", bar_format=_STEP_BAR,
            )  # fmt: skip
            bar.set_postfix_str(details, refresh=False)
            bar.refresh()
        elif time.monotonic() - self._last_plain >= PLAIN_EVERY_S:
            self._last_plain = time.monotonic()
            text = f"epoch {info.epoch}/{info.epochs} step {info.step}/{info.steps_per_epoch}"
            print(f"{text}  {details}", file=self._stream, flush=True)

    def line(self, text: str, stream: TextIO | None = None) -> None:
        """A line that stays, printed above any bar (standard output unless told otherwise)."""
        tqdm.write(text, file=stream or sys.stdout)

    def close(self) -> None:
        """End the current bar, if any."""
        if self._bar is not None:
            self._bar.close()
            self._bar, self._bar_key = None, None

    def _update(self, key: tuple, total: int, done: int, **options) -> tqdm:
        if self._bar_key != key:
            self.close()
            self._bar = tqdm(total=total, file=self._stream, leave=False, **options)
            self._bar_key = key
        assert self._bar is not None
        self._bar.update(done - self._bar.n)  # as a delta, so tqdm's rate means something
        return self._bar
