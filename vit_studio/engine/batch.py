"""Top-k predictions for many image files, batched, with progress and cancel callbacks.

A plain forward pass per batch (no attention capture): a folder export needs probabilities only,
and skipping the capture keeps it as fast as the model itself. Bad files become rows with an error
instead of stopping the run, so one corrupt photo never costs the other thousand.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from vit_studio.engine.analysis import TOP_K, Prediction
from vit_studio.engine.callbacks import Cancel, Progress
from vit_studio.engine.errors import Cancelled, StudioError
from vit_studio.engine.fileio import write_text_atomic
from vit_studio.engine.images import ImageFileError, open_image, prepare_image
from vit_studio.engine.model import StudioModel


@dataclass(frozen=True)
class FilePrediction:
    """The top-k predictions for one file, or why there are none (`error` non-empty)."""

    path: Path
    predictions: tuple[Prediction, ...]
    error: str = ""


def predict_files(
    model: StudioModel,
    paths: Sequence[Path],
    *,
    top_k: int = TOP_K,
    batch_size: int = 8,
    progress: Progress | None = None,
    cancelled: Cancel | None = None,
) -> list[FilePrediction]:
    """Classify every file, in the order given; `progress(done, total)` after each batch.

    `cancelled()` is asked before each batch, so a cancel takes effect within one batch.
    Raises `Cancelled` when it answers True.
    """
    if top_k < 1 or batch_size < 1:
        raise StudioError(f"top-k {top_k} and batch size {batch_size} must be at least 1")
    model.require_classifier("to predict")
    results: list[FilePrediction] = []
    total = len(paths)
    for start in range(0, total, batch_size):
        if cancelled is not None and cancelled():
            raise Cancelled(f"cancelled after {start} of {total} images")
        results.extend(_predict_batch(model, paths[start : start + batch_size], top_k))
        if progress is not None:
            progress(len(results), total)
    return results


def _predict_batch(model: StudioModel, paths: Sequence[Path], top_k: int) -> list[FilePrediction]:
    tensors: list[torch.Tensor] = []
    errors: dict[int, str] = {}
    for position, path in enumerate(paths):
        try:
            tensors.append(prepare_image(open_image(path), model.meta.preprocessing).tensor)
        except ImageFileError as exc:
            errors[position] = exc.summary
    ranked = iter(_top_k(model, tensors, top_k) if tensors else [])
    return [
        FilePrediction(path, (), errors[position])
        if position in errors
        else FilePrediction(path, next(ranked))
        for position, path in enumerate(paths)
    ]


def _top_k(
    model: StudioModel, tensors: list[torch.Tensor], top_k: int
) -> list[tuple[Prediction, ...]]:
    with torch.inference_mode():
        logits = model.module(torch.stack(tensors).to(model.device))
        probs = torch.softmax(logits.float(), dim=-1)
        values, indices = torch.topk(probs, min(top_k, probs.shape[-1]), dim=-1)
    return [
        tuple(
            Prediction(int(index), model.label(int(index)), float(value))
            for value, index in zip(row_values.tolist(), row_indices.tolist(), strict=True)
        )
        for row_values, row_indices in zip(values.cpu(), indices.cpu(), strict=True)
    ]


def predictions_csv(results: Sequence[FilePrediction], top_k: int) -> str:
    """One row per file: image, label_1, probability_1, …, label_k, probability_k, error."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["image"]
    for rank in range(1, top_k + 1):
        header += [f"label_{rank}", f"probability_{rank}"]
    writer.writerow([*header, "error"])
    for result in results:
        cells = [str(result.path)]
        for rank in range(top_k):
            if rank < len(result.predictions):
                prediction = result.predictions[rank]
                cells += [prediction.label, f"{prediction.probability:.6f}"]
            else:
                cells += ["", ""]
        writer.writerow([*cells, result.error])
    return buffer.getvalue()


def write_predictions_csv(path: str | Path, results: Sequence[FilePrediction], top_k: int) -> None:
    """Write `predictions_csv` atomically; a failed write names the file and the fix."""
    write_text_atomic(path, predictions_csv(results, top_k), "the predictions CSV")
