"""A run's report for people: one HTML page and the thumbnails it shows (`--report DIR`).

What the kept model scores on the validation images beside what not fine-tuning scores (the
base model alone, a probe on its features, the pixels alone), the settings and why each has its
value, accuracy per class, the confusion matrix, and the images it gets most wrong, largest loss
first, each with its true and predicted class: what Teachable Machine and fastai show after
training, in a folder that opens in any browser and can be kept beside the model.

A report folder holds `REPORT_MARKER`; a folder that holds files but no marker is the user's and
is refused before the run starts (`check_report_folder`), so a report never replaces their files.
"""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vit_studio.engine.errors import StudioError
from vit_studio.engine.fileio import atomic_path, write_text_atomic
from vit_studio.engine.images import ImageFileError, open_image
from vit_studio.engine.text import counted, elapsed_text
from vit_studio.engine.training.evaluation import EvalResult
from vit_studio.engine.training.progress import RunStatus, TrainResult

REPORT_MARKER = ".vit-studio-report"
TOP_LOSSES = 36  # images the page lists
THUMBNAIL = 96  # pixels on the longer side
ENDINGS = {
    RunStatus.COMPLETED: "completed",
    RunStatus.CANCELLED: "cancelled",
    RunStatus.TIME_BUDGET: "stopped at its time budget",
    RunStatus.EARLY_STOPPED: "stopped early: validation had stopped improving",
}


@dataclass(frozen=True)
class RunReport:
    """What the page says, gathered by the front end once the run has ended."""

    title: str  # e.g. the command that made the run
    result: TrainResult
    validation: EvalResult | None  # the kept model on the validation images
    settings: Sequence[str]  # the "settings: …" explanation, one line each
    pixel_baseline: float | None


def check_report_folder(folder: str | os.PathLike) -> Path:
    """`folder`, if a report may be written there: new, empty, or an earlier report."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise StudioError(f"{folder} is a file; give --report a folder (it is created)")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / REPORT_MARKER).exists():
        raise StudioError(
            f"{folder} holds files that are not a ViT Studio report; give --report a new or empty "
            "folder"
        )
    return folder


def write_report(folder: str | os.PathLike, report: RunReport) -> Path:
    """Write the report into `folder` (see the module); returns its page."""
    folder = check_report_folder(folder)
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / REPORT_MARKER, "written by vit-studio\n", "the report marker")
    page = folder / "index.html"
    write_text_atomic(page, _page(report, images), "the report")
    return page


def _page(report: RunReport, images: Path) -> str:
    result, validation = report.result, report.validation
    body = [f"<h1>{_e(report.title)}</h1>", f"<p>{_e(_outcome(result))}</p>"]
    controls = _controls(result, report.pixel_baseline)
    if controls:
        body.append(
            "<h2>Against not fine-tuning</h2>" + _table(("", "validation accuracy"), controls)
        )
    if report.settings:
        body.append("<h2>Settings</h2><pre>" + _e("\n".join(report.settings)) + "</pre>")
    if validation is not None and len(validation.labels):
        body.append(_per_class(validation))
        body.append(_confusion(validation))
        body.append(_top_losses(validation, images))
    style = (
        "body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;"
        "text-align:right}td:first-child,th:first-child{text-align:left}"
        ".grid{display:flex;flex-wrap:wrap;gap:.6em}.grid figure{margin:0;width:9em;"
        "font-size:small}.grid img{max-width:96px;max-height:96px}.right{color:#2a7a2a}"
    )
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{_e(report.title)}</title><style>{style}</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


def _outcome(result: TrainResult) -> str:
    text = (
        f"The run {ENDINGS[result.status]} after {counted(result.epochs_completed, 'epoch')} in "
        f"{elapsed_text(result.seconds)}. "
    )
    if result.best_val_acc is None:
        return text + "No validation images: the latest model was kept."
    kept = (
        "the starting model"
        if result.best_epoch == 0
        else f"the model of epoch {result.best_epoch}"
    )
    return text + f"Kept {kept}: {result.best_val_acc:.1%} of the validation images right."


def _controls(result: TrainResult, pixels: float | None) -> list[tuple[str, str]]:
    rows = []
    if result.best_val_acc is not None:
        rows.append(("the fine-tuned model (kept)", f"{result.best_val_acc:.1%}"))
    start = result.start
    if start is not None and start.base_acc is not None:
        rows.append(
            ("the base model alone, its own head for these classes", f"{start.base_acc:.1%}")
        )
    if start is not None and start.probe_acc is not None:
        rows.append(
            ("a linear probe on the base model's frozen features", f"{start.probe_acc:.1%}")
        )
    if pixels is not None:
        rows.append(("logistic regression on the raw 32 × 32 pixels", f"{pixels:.1%}"))
    return rows if len(rows) > 1 else []


def _per_class(validation: EvalResult) -> str:
    names = validation.class_names
    rows = [
        (name, str(int(n)), str(int(right)), "no images" if n == 0 else f"{right / n:.0%}")
        for name, n, right in zip(
            names, validation.support, np.diag(validation.confusion), strict=True
        )
    ]
    return "<h2>Accuracy per class</h2>" + _table(("class", "images", "right", "accuracy"), rows)


def _confusion(validation: EvalResult) -> str:
    names = validation.class_names
    rows = [
        (f"{name} (true)", *(str(int(v)) for v in row))
        for name, row in zip(names, validation.confusion, strict=True)
    ]
    header = ("", *(f"→ {name}" for name in names))
    return "<h2>Confusion matrix</h2><p>Rows: true class; columns: predicted.</p>" + _table(
        header, rows
    )


def _top_losses(validation: EvalResult, images: Path) -> str:
    names = validation.class_names
    losses = validation.top_losses(TOP_LOSSES)
    figures = []
    for rank, loss in enumerate(losses, 1):
        path = validation.paths[loss.index] if validation.paths else None
        thumbnail = _thumbnail(path, images / f"{rank:03d}.png") if path is not None else None
        picture = f'<img src="images/{thumbnail.name}" alt="">' if thumbnail else "(unreadable)"
        verdict = "right" if not loss.wrong else "wrong"
        figures.append(
            f'<figure class="{verdict}">{picture}<figcaption>{_e(names[loss.true_class])} → '
            f"{_e(names[loss.predicted])} {loss.probability:.0%}<br>loss {loss.loss:.2f}<br>"
            f"<small>{_e(path.name if path else '')}</small></figcaption></figure>"
        )
    wrong = sum(loss.wrong for loss in losses)
    return (
        f"<h2>Largest losses</h2><p>The {len(losses)} validation images with the largest loss, "
        f"largest first ({wrong} of them wrong): true class → predicted class, its "
        f'probability.</p><div class="grid">{"".join(figures)}</div>'
    )


def _thumbnail(source: Path, target: Path) -> Path | None:
    try:
        image = open_image(source)
    except ImageFileError:
        return None
    image.thumbnail((THUMBNAIL, THUMBNAIL), Image.Resampling.LANCZOS)
    with atomic_path(target, "a report thumbnail") as tmp:
        image.save(tmp, format="PNG")
    return target


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{_e(cell)}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _e(text: str) -> str:
    return html.escape(str(text))
