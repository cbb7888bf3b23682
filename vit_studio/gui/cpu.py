"""How the GUI process shares the CPU: torch threads per worker, one BLAS thread for numpy.

Measured on 2 cores (benchmarks/bench_gui.py): numpy's multithreaded BLAS spins its threads
against the workers' torch threads, and a ViT-B/16 rollout recomputed on the GUI thread went from
about 6 ms to 150 ms. The matrices the views multiply (tokens × tokens) are too small to gain
from more than one BLAS thread anyway.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from threadpoolctl import ThreadpoolController


def default_num_threads() -> int:
    """Torch threads for a worker: every core but one, which stays free for the GUI thread."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) - 1)


def torch_setup(num_threads: int) -> Callable[[], None]:
    """The setup of a worker thread that runs torch: `num_threads` for its own pool. OpenMP
    thread counts are per calling thread, so this caps that worker only. Torch is imported
    there, in the worker thread: the window does not wait for it."""

    def setup() -> None:
        import torch

        torch.set_num_threads(num_threads)

    return setup


def limit_blas_threads() -> None:
    """Make numpy's BLAS single-threaded for the whole process (torch keeps its own pools)."""
    ThreadpoolController().limit(limits=1, user_api="blas")
