"""Run a function over chunks of a list in a thread pool, in order, with progress and cancel.

Pillow releases the GIL while decoding and resampling, which is where the time goes for real
photos, so threads are enough; results keep the input order whatever the pool does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from vit_studio.engine.callbacks import Cancel, Progress
from vit_studio.engine.errors import Cancelled

# Files per pool task: small enough that progress and cancel respond within a second even for
# large photos, large enough that pool overhead stays negligible for tiny ones.
CHUNK = 16

_In = TypeVar("_In")
_Out = TypeVar("_Out")


def run_chunked(
    work: Callable[[Sequence[_In]], _Out],
    items: list[_In],
    progress: Progress | None,
    cancel: Cancel | None,
    workers: int | None,
) -> Iterator[_Out]:
    """Yield `work(chunk)` for consecutive chunks of `items`, in order, computed in a pool.

    Progress is reported and cancel polled from the calling thread after each chunk, so callbacks
    never run on pool threads.
    """
    total = len(items)
    if cancel is not None and cancel():
        raise Cancelled
    chunks = [items[start:start + CHUNK] for start in range(0, total, CHUNK)]
    workers = default_workers() if workers is None else max(1, workers)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="decode") if workers > 1 else None
    try:
        results = pool.map(work, chunks) if pool is not None else map(work, chunks)
        done = 0
        for chunk, result in zip(chunks, results, strict=True):
            yield result
            done += len(chunk)
            if progress is not None:
                progress(done, total)
            if cancel is not None and done < total and cancel():
                raise Cancelled
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def default_workers() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1
