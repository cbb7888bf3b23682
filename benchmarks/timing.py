"""The timer the benchmarks share: median seconds per function, calls interleaved."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def _once(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def interleaved(fns: dict, repeats: int, device: torch.device) -> dict[str, float]:
    """Median seconds per function after one warm-up call each; the calls are interleaved so a
    change in the machine's load hits every function alike."""
    for fn in fns.values():
        fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            samples[name].append(_once(fn, device))
    return {name: statistics.median(values) for name, values in samples.items()}
