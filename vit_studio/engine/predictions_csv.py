"""The top-k predictions of many images as a CSV file that grows batch by batch.

Rows go to a temporary file beside the target, flushed after every batch. The file is renamed
into place when the run ends, and also when it is interrupted (Ctrl-C, a cancel): then it is cut
back to its last complete row first, so an interrupted run keeps every finished row and never a
torn one. A file already at the target is replaced only then; an interruption before the first
row, or any other failure, leaves it as it was. Rows follow the order of the images given; bad
files are rows with an error.

A folder is listed with its subfolders (`images_in_tree`): for a class-folder tree (ImageFolder,
or train/ and val/ holding class folders) each row also carries its folder's name as
`true_label`, and the summary says how often the top prediction agrees with it.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from vit_studio.engine.analysis import TOP_K
from vit_studio.engine.batch import FilePrediction, iter_predictions
from vit_studio.engine.callbacks import Cancel, Progress
from vit_studio.engine.errors import Cancelled, StudioError, user_error
from vit_studio.engine.fileio import atomic_path
from vit_studio.engine.images import IMAGE_EXTENSIONS, is_image_path
from vit_studio.engine.model import StudioModel


@dataclass(frozen=True)
class ImageEntry:
    """One image to predict: its file, what the `image` column says, and the class its folder
    names (empty when the layout names none)."""

    path: Path
    name: str
    true_label: str = ""


@dataclass(frozen=True)
class CsvSummary:
    """What a finished CSV holds: `rows` of `total`, `failures` of them errors; `labelled` rows
    have a `true_label` that is one of the model's classes, `top1_agrees` of them predicted it."""

    output: Path
    rows: int
    total: int
    failures: int
    labelled: int = 0
    top1_agrees: int = 0


def images_in_tree(folder: str | os.PathLike) -> list[ImageEntry]:
    """Every image file in `folder` and its subfolders (hidden ones skipped, links to folders not
    followed), sorted by the path relative to `folder`, which is each entry's `name`; an image in
    a subfolder has that subfolder's name as `true_label`."""
    root = Path(folder)
    if not root.is_dir():
        raise StudioError(f"{root}: not a folder; check the path")

    def unreadable(exc: OSError) -> None:
        known = user_error(exc, f"listing the images of {root}")
        raise known if known is not None else exc

    found: list[Path] = []
    for parent, folders, files in os.walk(root, onerror=unreadable):
        folders[:] = [name for name in folders if not name.startswith(".")]
        found += [Path(parent, name) for name in files
                  if not name.startswith(".") and is_image_path(name)]  # fmt: skip
    if not found:
        raise StudioError(
            f"{root}: no image files in it or its subfolders ({', '.join(IMAGE_EXTENSIONS)}); "
            "choose a folder of images"
        )
    found.sort(key=lambda path: path.relative_to(root).parts)
    return [
        ImageEntry(path, path.relative_to(root).as_posix(),
                   "" if path.parent == root else path.parent.name)
        for path in found
    ]  # fmt: skip


def image_entries(paths: Sequence[Path]) -> list[ImageEntry]:
    """Entries for files named one by one: the `image` column is the path as given."""
    return [ImageEntry(Path(path), str(path)) for path in paths]


def csv_header(top_k: int, with_true_label: bool) -> list[str]:
    """image, [true_label,] label_1, probability_1, …, label_k, probability_k, error."""
    header = ["image", "true_label"] if with_true_label else ["image"]
    for rank in range(1, top_k + 1):
        header += [f"label_{rank}", f"probability_{rank}"]
    return [*header, "error"]


def write_predictions_csv(
    output: str | os.PathLike,
    model: StudioModel,
    images: Sequence[ImageEntry],
    *,
    top_k: int = TOP_K,
    batch_size: int | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    cancelled: Cancel | None = None,
) -> CsvSummary:
    """Predict every image in batches (`batch.iter_predictions`) and stream the rows to `output`.

    `progress(rows, total)` after each batch's rows are on disk; `cancelled()` is asked before
    each batch. A cancel raises `Cancelled`, Ctrl-C `KeyboardInterrupt`, each saying how many
    rows were kept in `output` (see the module for what the file then holds).
    """
    output = Path(output)
    if output.is_dir():
        raise StudioError(f"{output} is a folder; give a file name for the CSV inside it")
    batches = iter_predictions(
        model, [image.path for image in images], top_k=top_k, batch_size=batch_size,
        workers=workers,
    )  # fmt: skip
    writer = _RowWriter(model, images, top_k)
    try:
        with atomic_path(output, "the predictions CSV") as tmp:
            try:
                with open(tmp, "wb") as handle:
                    writer.write_all(handle, batches, progress, cancelled)
            except (Cancelled, KeyboardInterrupt) as exc:
                if writer.kept.rows == 0:
                    raise  # nothing finished: the target stays as it was
                os.truncate(tmp, writer.kept.size)
                interrupted: BaseException | None = exc
            else:
                interrupted = None
    except (Cancelled, KeyboardInterrupt) as exc:
        # Before the first row, or a second Ctrl-C while the file was being kept.
        what = "no row was finished" if writer.kept.rows == 0 else "interrupted while saving"
        left = "left as it was" if output.exists() else "not written"
        raise type(exc)(f"{what}, so {output} was {left}") from None
    finally:
        batches.close()
    kept = writer.kept
    if interrupted is not None:
        raise type(interrupted)(f"kept {kept.rows:,} of {len(images):,} rows in {output}") from None
    return CsvSummary(output, kept.rows, len(images), kept.failures, kept.labelled, kept.agrees)


@dataclass(frozen=True)
class _Kept:
    """What is complete on disk. Replaced as a whole, in one assignment, so an interrupt sees
    either the state before a batch or after it, never a mix."""

    size: int = 0  # bytes of the header and the complete rows
    rows: int = 0
    failures: int = 0
    labelled: int = 0
    agrees: int = 0


class _RowWriter:
    def __init__(self, model: StudioModel, images: Sequence[ImageEntry], top_k: int) -> None:
        self._images = images
        self._top_k = top_k
        self._with_true_label = any(image.true_label for image in images)
        self._classes = frozenset(model.meta.class_names)
        self.kept = _Kept()

    def write_all(self, handle, batches, progress: Progress | None, cancel: Cancel | None) -> None:
        header = _csv_bytes([csv_header(self._top_k, self._with_true_label)])
        handle.write(header)
        handle.flush()
        self.kept = _Kept(size=len(header))
        total = len(self._images)
        for batch in _until_cancelled(batches, cancel, total):
            self._write_batch(handle, batch)
            if progress is not None:
                progress(self.kept.rows, total)

    def _write_batch(self, handle, batch: list[FilePrediction]) -> None:
        kept = self.kept
        pairs = list(zip(self._images[kept.rows : kept.rows + len(batch)], batch, strict=True))
        data = _csv_bytes([self._row(image, result) for image, result in pairs])
        labelled = [
            (image, result) for image, result in pairs
            if result.predictions and image.true_label in self._classes
        ]  # fmt: skip
        handle.write(data)
        handle.flush()
        self.kept = _Kept(
            size=kept.size + len(data),
            rows=kept.rows + len(batch),
            failures=kept.failures + sum(1 for result in batch if result.error),
            labelled=kept.labelled + len(labelled),
            agrees=kept.agrees + sum(1 for image, result in labelled
                                     if result.predictions[0].label == image.true_label),
        )  # fmt: skip

    def _row(self, image: ImageEntry, result: FilePrediction) -> list[str]:
        cells = [image.name, image.true_label] if self._with_true_label else [image.name]
        for rank in range(self._top_k):
            if rank < len(result.predictions):
                prediction = result.predictions[rank]
                cells += [prediction.label, f"{prediction.probability:.6f}"]
            else:
                cells += ["", ""]
        return [*cells, result.error]


def _until_cancelled(batches, cancel: Cancel | None, total: int):
    """`batches`, asking `cancel()` before each (not after the last: the work is then done)."""
    done = 0
    while done < total:
        if cancel is not None and cancel():
            raise Cancelled(f"cancelled after {done} of {total} images")
        batch = next(batches)
        yield batch
        done += len(batch)


def _csv_bytes(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")
