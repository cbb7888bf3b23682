"""Peak anonymous memory (RssAnon) of a command and all its children, sampled from /proc.

RssAnon leaves out file-backed pages, so a memory-mapped cache the kernel can drop again is not
counted as the process's own memory; that is the figure a user running out of RAM meets.
Linux only.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence

_SAMPLE_SECONDS = 0.02


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(word) for word in handle.read().split()]
    except OSError:
        return []


def _rss_anon_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree_kb(pid: int) -> int:
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        total += _rss_anon_kb(current)
        pending.extend(_children(current))
    return total


def peak_rss_anon_mb(command: Sequence[str], **popen_kwargs) -> tuple[float, float, int]:
    """(peak RssAnon of the process tree in MB, wall seconds, exit code) of running `command`."""
    started = time.monotonic()
    process = subprocess.Popen(list(command), **popen_kwargs)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_kb(process.pid))
        time.sleep(_SAMPLE_SECONDS)
    return peak / 1024, time.monotonic() - started, process.returncode


if __name__ == "__main__":
    peak, seconds, code = peak_rss_anon_mb(sys.argv[1:], stdout=subprocess.DEVNULL)
    print(f"peak RssAnon {peak:.0f} MB, {seconds:.1f} s, exit {code}", file=sys.stderr)
    sys.exit(code)
