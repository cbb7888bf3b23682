"""The timer the benchmarks share: median seconds per function, calls interleaved."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def _once(fn: Callable[[], object], device: torch.device, clock: Callable[[], float]) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = clock()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return clock() - start


def interleaved(
    fns: dict,
    repeats: int,
    device: torch.device,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Median seconds per function after one warm-up call each; the calls are interleaved so a
    change in the machine's load hits every function alike. `clock=time.process_time` counts
    the CPU seconds of this process instead, which other work on a busy machine does not add
    to."""
    for fn in fns.values():
        fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(_once(fn, device, clock))
    return {name: statistics.median(values) for name, values in samples.items()}
