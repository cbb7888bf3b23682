"""Top-k predictions for many image files, batched, with the next batches decoded while the model
runs the current one.

A plain forward pass per batch (no attention capture): a folder export needs probabilities only,
and skipping the capture keeps it as fast as the model itself. Files are decoded, resized and
cropped in a small thread pool (Pillow releases the GIL while it does so) a few batches ahead of
the model, so on a GPU the model seldom waits for files and on a CPU the files cost little beyond
the forward. The pool threads do no torch work: normalising a whole batch at once on the model's
device is cheaper, and torch ops on pool threads would fight the model's own threads. Bad files
become predictions with an error instead of stopping the run, so one corrupt photo never costs
the other thousand.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vit_studio.engine.analysis import TOP_K, Prediction
from vit_studio.engine.callbacks import Cancel, Progress
from vit_studio.engine.errors import Cancelled, StudioError, user_error
from vit_studio.engine.images import ImageFileError, open_image, resize_center_crop
from vit_studio.engine.model import Preprocessing, StudioModel

# Batch sizes when none is given. On a CPU a larger batch gains nothing (the forward is already
# compute-bound at 32) and delays the first rows; a GPU needs bigger batches to be kept busy.
CPU_BATCH_SIZE = 32
ACCELERATOR_BATCH_SIZE = 64
# Batches being decoded ahead of the one the model runs: enough to hide a slow file, few enough
# that a large batch of large images does not fill the memory.
PREFETCH_BATCHES = 2


@dataclass(frozen=True)
class FilePrediction:
    """The top-k predictions for one file, or why there are none (`error` non-empty)."""

    path: Path
    predictions: tuple[Prediction, ...]
    error: str = ""


def default_batch_size(device: torch.device) -> int:
    return CPU_BATCH_SIZE if device.type == "cpu" else ACCELERATOR_BATCH_SIZE


def default_decode_workers(device: torch.device) -> int:
    """Decoding threads. On a CPU, half the cores (at most four): the model's torch threads want
    the rest, and four decode faster than a CPU runs even a small ViT. On a GPU the cores have
    nothing else to do and decoding is what the model waits for: all but one (at most eight)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    if device.type == "cpu":
        return max(1, min(4, cores // 2))
    return max(1, min(8, cores - 1))


def iter_predictions(
    model: StudioModel,
    paths: Sequence[Path],
    *,
    top_k: int = TOP_K,
    batch_size: int | None = None,
    workers: int | None = None,
) -> Iterator[list[FilePrediction]]:
    """The predictions batch by batch, in the order of `paths`, as each batch's forward ends.

    `batch_size` defaults to `default_batch_size(model.device)`, `workers` (decoding threads) to
    `default_decode_workers(model.device)`; 0 workers decode in the calling thread. Closing the
    iterator (or an exception in its consumer, Ctrl-C included) stops the decoding threads.
    """
    batch_size = default_batch_size(model.device) if batch_size is None else batch_size
    if top_k < 1 or batch_size < 1:
        raise StudioError(f"top-k {top_k} and batch size {batch_size} must be at least 1")
    model.require_classifier("to predict")
    workers = default_decode_workers(model.device) if workers is None else max(0, workers)
    return _batches(model, list(paths), top_k, batch_size, workers)


def predict_files(
    model: StudioModel,
    paths: Sequence[Path],
    *,
    top_k: int = TOP_K,
    batch_size: int | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    cancelled: Cancel | None = None,
) -> list[FilePrediction]:
    """Classify every file, in the order given; `progress(done, total)` after each batch.

    `cancelled()` is asked before each batch, so a cancel takes effect within one batch.
    Raises `Cancelled` when it answers True.
    """
    batches = iter_predictions(model, paths, top_k=top_k, batch_size=batch_size, workers=workers)
    results: list[FilePrediction] = []
    total = len(paths)
    try:
        while True:
            if cancelled is not None and cancelled():
                raise Cancelled(f"cancelled after {len(results)} of {total} images")
            batch = next(batches, None)
            if batch is None:
                return results
            results.extend(batch)
            if progress is not None:
                progress(len(results), total)
    finally:
        batches.close()


# A decoded file: its resized, cropped uint8 pixels [H, W, 3], or why it cannot be used.
_Decoded = np.ndarray | str


def _decode(path: Path, pre: Preprocessing) -> _Decoded:
    try:
        image = open_image(path)
    except ImageFileError as exc:
        return exc.summary
    cropped = resize_center_crop(image, pre.resize_size, pre.crop_size, pre.interpolation)
    return np.asarray(cropped, dtype=np.uint8)


def _batches(
    model: StudioModel, paths: list[Path], top_k: int, batch_size: int, workers: int
) -> Iterator[list[FilePrediction]]:
    pre = model.meta.preprocessing
    chunks = iter([paths[start : start + batch_size] for start in range(0, len(paths), batch_size)])
    if workers == 0:
        for chunk in chunks:
            yield _predict(model, chunk, [_decode(path, pre) for path in chunk], top_k)
        return
    pool = ThreadPoolExecutor(workers, thread_name_prefix="decode")
    queued: deque[tuple[list[Path], list[Future[_Decoded]]]] = deque()

    def queue_next() -> None:
        chunk = next(chunks, None)
        if chunk is not None:
            queued.append((chunk, [pool.submit(_decode, path, pre) for path in chunk]))

    try:
        for _ in range(1 + PREFETCH_BATCHES):
            queue_next()
        while queued:
            chunk, futures = queued.popleft()
            queue_next()  # before waiting, so the pool never idles while this batch runs
            yield _predict(model, chunk, [future.result() for future in futures], top_k)
    finally:
        # At most one file per thread is still being decoded; the queued ones are dropped.
        pool.shutdown(wait=True, cancel_futures=True)


def _predict(
    model: StudioModel, paths: list[Path], decoded: list[_Decoded], top_k: int
) -> list[FilePrediction]:
    pixels = [item for item in decoded if not isinstance(item, str)]
    ranked = iter(_top_k(model, np.stack(pixels), top_k) if pixels else [])
    return [
        FilePrediction(path, (), item)
        if isinstance(item, str)
        else FilePrediction(path, next(ranked))
        for path, item in zip(paths, decoded, strict=True)
    ]


def _normalised(model: StudioModel, pixels: np.ndarray) -> torch.Tensor:
    """`prepare_image`'s arithmetic on a whole [B, H, W, 3] uint8 batch, on the model's device
    (uint8 is a quarter of the bytes to move to a GPU)."""
    pre = model.meta.preprocessing
    device = model.device
    mean = torch.tensor(pre.mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    std = torch.tensor(pre.std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
    batch = torch.from_numpy(pixels).to(device).permute(0, 3, 1, 2).to(torch.float32).div(255)
    return batch.sub(mean).div(std).contiguous()


def _top_k(model: StudioModel, pixels: np.ndarray, top_k: int) -> list[tuple[Prediction, ...]]:
    try:
        with torch.inference_mode():
            logits = model.module.eval()(_normalised(model, pixels))
            probs = torch.softmax(logits.float(), dim=-1)
            values, indices = torch.topk(probs, min(top_k, probs.shape[-1]), dim=-1)
            values, indices = values.cpu().tolist(), indices.cpu().tolist()
    except (RuntimeError, MemoryError) as exc:  # torch's OutOfMemoryError is a RuntimeError
        fix = f"use a batch size below {len(pixels)} (analyze --batch-size)"
        known = user_error(exc, f"predicting a batch of {len(pixels)} images", memory_fix=fix)
        if known is None:
            raise
        raise known from exc
    return [
        tuple(
            Prediction(index, model.label(index), value)
            for value, index in zip(row_values, row_indices, strict=True)
        )
        for row_values, row_indices in zip(values, indices, strict=True)
    ]
