"""What a run may write over: never the model it starts from, and an earlier run's files only when
the user said so.

The CLI refuses an existing `--out` unless `--overwrite` (or `--resume`, which continues those
files) is given (`check_output`); the fine-tune panel asks before replacing (`files_in_the_way`)
and refuses its base model the same way (`refuse_base_model`). Paths are compared as files, not
as text, so `./m.safetensors`, a symbolic link to it or its absolute path are one file.
"""

from __future__ import annotations

import os
from pathlib import Path

from vit_studio.engine.errors import StudioError
from vit_studio.engine.training.progress import TrainPaths


def run_files(out: str | os.PathLike) -> tuple[Path, Path, Path]:
    """The files a run writing the model `out` writes: the model, its checkpoint, its metrics."""
    paths = TrainPaths.beside(out)
    return paths.model, paths.checkpoint, paths.metrics


def files_in_the_way(out: str | os.PathLike) -> list[Path]:
    """The files of an earlier run that a new run writing `out` would replace (none: nothing
    there)."""
    return [path for path in run_files(out) if path.exists() or path.is_symlink()]


def same_file(first: str | os.PathLike, second: str | os.PathLike) -> bool:
    """Whether two paths name one file (or folder): the same file on disk when both exist, else
    the same absolute path once links and `..` are resolved."""
    try:
        return os.path.samefile(first, second)
    except OSError:
        return Path(first).resolve() == Path(second).resolve()


def refuse_base_model(out: str | os.PathLike, base_model: str | os.PathLike | None) -> None:
    """Raise `StudioError` if a run writing `out` would write over `base_model` (the file it is
    fine-tuned from, or a file inside a Hugging Face model folder), whatever else was asked."""
    if base_model is None:
        return
    base = Path(base_model)
    for path in run_files(out):
        inside = base.is_dir() and same_file(path.parent, base)
        if inside or same_file(path, base):
            what = "the folder of the model" if inside else "the model"
            raise StudioError(
                f"{out}: the run would write {path.name} over {what} it starts from ({base}); "
                "write the fine-tuned model to another file, so that its base stays as it is"
            )


def check_output(
    out: str | os.PathLike,
    base_model: str | os.PathLike | None = None,
    *,
    overwrite: bool = False,
    resume: bool = False,
) -> None:
    """Raise `StudioError` (one line naming the file and the flags) if a run writing `out` would
    replace its base model, always refused, or an earlier run's files without `overwrite` or
    `resume`."""
    refuse_base_model(out, base_model)
    if overwrite or resume:
        return
    existing = files_in_the_way(out)
    if existing:
        earlier = "" if existing[0] == Path(out) else f" (of an earlier run writing {out})"
        raise StudioError(
            f"{existing[0]} exists{earlier}; add --overwrite to replace that run's files, "
            "--resume to continue it, or choose another --out"
        )
