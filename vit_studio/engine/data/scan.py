"""Folder datasets: find the images a user points us at, check every one, and split them.

Two layouts are understood: ``ROOT/<class>/**/*.jpg`` (validation images are split off per class,
reproducibly for a seed) and ``ROOT/train/<class>`` + ``ROOT/val/<class>``. `scan_folder` decodes
every file up front so a bad image is reported before training starts instead of crashing it an
hour in; what it found is remembered per file (`checked`), so a rescan decodes only new or
changed files. Decoding runs in a thread pool (`pool`).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vit_studio.engine.callbacks import Cancel, Progress
from vit_studio.engine.data.checked import CheckRecord, file_stamp
from vit_studio.engine.data.pool import run_chunked
from vit_studio.engine.errors import StudioError
from vit_studio.engine.images import ImageFileError, is_image_path, open_image
from vit_studio.engine.text import counted

_VAL_FOLDER_NAMES = ("val", "valid", "validation")
_SPLIT_FOLDER_NAMES = frozenset({"train", "test", *_VAL_FOLDER_NAMES})


class UntrainableFolder(StudioError):
    """`scan_folder` read the folder but cannot train on it: fewer than two classes, or a class
    with too few usable images. The message is the usual one line with the fix.

    `scan` is what was found all the same (classes, images per class split as a run would split
    them, skipped and ignored files), so a front end can show it beside the message; it is not
    fit for training. `short_classes` names the classes that need more images. With fewer than
    two classes no file is decoded (the fix is the folder's layout, not its images, and decoding
    a large wrong folder would only delay saying so), so `scan.skipped` is empty then.
    """

    def __init__(self, message: str, scan: FolderScan, short_classes: tuple[str, ...] = ()):
        super().__init__(message)
        self.scan = scan
        self.short_classes = short_classes


@dataclass(frozen=True)
class ImageItem:
    """One labelled image file; `label` indexes `FolderScan.class_names`."""

    path: Path
    label: int


@dataclass(frozen=True)
class SkippedFile:
    """An image file left out, and why (e.g. "truncated", "corrupt (broken data stream)")."""

    path: Path
    reason: str


@dataclass(frozen=True)
class FolderScan:
    """What `scan_folder` found: classes, the train/val split, and every file it left out."""

    root: Path
    class_names: tuple[str, ...]
    train: tuple[ImageItem, ...]
    val: tuple[ImageItem, ...]
    skipped: tuple[SkippedFile, ...]
    ignored: int
    has_val_folder: bool

    def class_counts(self) -> dict[str, tuple[int, int]]:
        """Class name -> (training images, validation images)."""
        train = np.bincount([i.label for i in self.train], minlength=len(self.class_names))
        val = np.bincount([i.label for i in self.val], minlength=len(self.class_names))
        return {name: (int(train[k]), int(val[k])) for k, name in enumerate(self.class_names)}

    def report(self) -> str:
        """A multi-line summary for people: images per class, each skipped file, ignored count."""
        source = "val/ folder" if self.has_val_folder else "split off per class"
        lines = [
            f"{self.root}: {len(self.class_names)} classes, {len(self.train)} training and "
            f"{len(self.val)} validation images (validation: {source})"
        ]
        width = max((len(name) for name in self.class_names), default=0)
        for name, (train, val) in self.class_counts().items():
            lines.append(f"  {name:<{width}}  {train:>6} train  {val:>6} val")
        if self.skipped:
            lines.append(f"{counted(len(self.skipped), 'unusable file')} skipped:")
            lines.extend(f"  {_relative(s.path, self.root)}: {s.reason}" for s in self.skipped)
        if self.ignored:
            lines.append(
                f"{counted(self.ignored, 'file')} ignored (hidden, not an image type, or outside "
                "the class folders)"
            )
        return "\n".join(lines)


def scan_folder(
    root: str | os.PathLike,
    *,
    val_share: float = 0.2,
    seed: int = 0,
    verify: bool = True,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    workers: int | None = None,
) -> FolderScan:
    """Find the classes and images under `root`, decode each one (`verify`), and split.

    Without a val/ folder, `val_share` of each class (at least one image) becomes validation,
    chosen by hashing the seed with each file's path: the same files and seed give the same split
    on any machine, whatever order the file system lists them in. `progress(done, total)` and
    `cancel()` are polled while verifying; cancelling raises `Cancelled`.

    Raises `StudioError` for a missing root or mismatched train/val classes, and its subclass
    `UntrainableFolder` (carrying what was found) for fewer than two classes or a class with too
    few usable images; each names the folder and the fix.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a folder"
        raise StudioError(f"{root} {what}; choose the folder that holds one subfolder per class")
    if not 0.0 <= val_share < 1.0:
        raise StudioError(
            f"validation share {val_share} is out of range; use a fraction from 0 to below 1, "
            "e.g. 0.2"
        )

    try:
        train_root, val_root = _layout(root)
        train_files, ignored = _list_classes(train_root)
        val_files: dict[str, list[Path]] = {}
        if val_root is not None:
            val_files, val_ignored = _list_classes(val_root)
            ignored += val_ignored
            _check_same_classes(train_root, train_files, val_root, val_files)
        if train_root != root:
            # Anything beside train/ and val/ (a README, a test/ folder) is not ours to use.
            ignored += sum(1 for p in root.iterdir() if p not in (train_root, val_root))
    except OSError as exc:
        raise StudioError(
            f"{exc.filename or root} cannot be listed ({exc.strerror or exc}); check that it "
            "still exists and that you may read it"
        ) from exc
    class_names = tuple(train_files)

    def found(
        train: dict[str, list[Path]], val: dict[str, list[Path]], skipped: tuple[SkippedFile, ...]
    ) -> FolderScan:
        if val_root is not None:
            train_paths, val_paths = train, val
        else:
            train_paths, val_paths = {}, {}
            for name, files in train.items():
                train_paths[name], val_paths[name] = _split(
                    name, files, train_root / name, val_share, seed
                )
        return FolderScan(
            root=root,
            class_names=class_names,
            train=_items(class_names, train_paths),
            val=_items(class_names, val_paths),
            skipped=skipped,
            ignored=ignored,
            has_val_folder=val_root is not None,
        )

    if len(class_names) < 2:
        named = f"only '{class_names[0]}'" if class_names else "none"
        raise UntrainableFolder(
            f"{train_root} needs at least 2 class subfolders (found {named}); put each "
            f"class's images in its own subfolder, e.g. {train_root / 'cats'}",
            found(train_files, val_files, ()),
        )

    skipped: tuple[SkippedFile, ...] = ()
    if verify:
        everything = [p for files in (*train_files.values(), *val_files.values()) for p in files]
        bad = _verify(root, everything, progress, cancel, workers)
        skipped = tuple(sorted(bad.values(), key=lambda s: s.path))
        train_files = {k: [p for p in v if p not in bad] for k, v in train_files.items()}
        val_files = {k: [p for p in v if p not in bad] for k, v in val_files.items()}

    if val_root is not None:
        checks = ((train_root, train_files, 1), (val_root, val_files, 1))
    else:
        checks = ((train_root, train_files, 2),)
    for folder, files, minimum in checks:
        if short := tuple(name for name, paths in files.items() if len(paths) < minimum):
            raise UntrainableFolder(
                _too_few_message(folder, files, short, minimum, skipped),
                found(train_files, val_files, skipped),
                short,
            )
    return found(train_files, val_files, skipped)


def _layout(root: Path) -> tuple[Path, Path | None]:
    """(folder holding the training classes, folder holding the validation classes or None)."""
    folders = {p.name for p in _visible_subfolders(root)}
    if "train" not in folders or not folders <= _SPLIT_FOLDER_NAMES:
        return root, None
    val_names = [name for name in _VAL_FOLDER_NAMES if name in folders]
    if len(val_names) > 1:
        raise StudioError(
            f"{root} has several validation folders ({', '.join(val_names)}); keep only one"
        )
    return root / "train", (root / val_names[0]) if val_names else None


def _visible_subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and p.is_dir())


def _list_classes(folder: Path) -> tuple[dict[str, list[Path]], int]:
    """(class name -> its sorted image files, entries ignored); classes sorted by name."""
    classes = _visible_subfolders(folder)
    ignored = sum(1 for p in folder.iterdir() if p not in classes)
    files: dict[str, list[Path]] = {}
    for class_folder in classes:
        class_ignored, files[class_folder.name] = _image_files(class_folder)
        ignored += class_ignored
    return files, ignored


def _image_files(folder: Path) -> tuple[int, list[Path]]:
    """(files ignored, image files sorted by path) anywhere under `folder`; hidden entries skip."""
    ignored = 0
    found: list[str] = []
    pending = [os.fspath(folder)]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    ignored += 1
                elif entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                elif is_image_path(entry.name):
                    found.append(entry.path)
                else:
                    ignored += 1
    found.sort()
    return ignored, [Path(path) for path in found]


def _check_same_classes(
    train_root: Path, train: dict[str, list[Path]], val_root: Path, val: dict[str, list[Path]]
) -> None:
    if train.keys() == val.keys():
        return
    differences = []
    if only_train := sorted(train.keys() - val.keys()):
        differences.append(f"only in {train_root.name}/: {', '.join(only_train)}")
    if only_val := sorted(val.keys() - train.keys()):
        differences.append(f"only in {val_root.name}/: {', '.join(only_val)}")
    raise StudioError(
        f"{train_root.parent}: {train_root.name}/ and {val_root.name}/ must have the same class "
        f"folders ({'; '.join(differences)}); add or rename folders so they match"
    )


def _too_few_message(
    folder: Path,
    files: dict[str, list[Path]],
    short: tuple[str, ...],
    minimum: int,
    skipped: tuple[SkippedFile, ...],
) -> str:
    counts = ", ".join(f"'{name}' has {len(files[name])}" for name in short)
    unusable = f", after skipping {counted(len(skipped), 'unusable file')}" if skipped else ""
    return (
        f"{folder}: too few usable images (class {counts}{unusable}); each class needs "
        f"at least {minimum} here, so add images to that class folder or remove the class"
    )


def _split(
    name: str, files: list[Path], class_folder: Path, val_share: float, seed: int
) -> tuple[list[Path], list[Path]]:
    """Stratified split of one class: the files whose seeded hash is lowest go to validation.

    Ranking by a hash of the path relative to its class folder (rather than shuffling) ignores
    where the dataset lives, and adding or removing a few files only moves files near the cut.
    """
    if val_share == 0.0 or len(files) < 2:
        return files, []  # fewer than 2: nothing to hold out (scan_folder refuses such a class)
    n_val = min(max(1, math.floor(len(files) * val_share + 0.5)), len(files) - 1)

    prefix = len(str(class_folder)) + 1

    def rank(path: Path) -> bytes:
        relative = str(path)[prefix:].replace(os.sep, "/")
        key = f"{seed}/{name}/{relative}"
        return hashlib.blake2b(key.encode(), digest_size=8).digest()

    val = set(sorted(files, key=rank)[:n_val])
    return [p for p in files if p not in val], [p for p in files if p in val]


def _items(class_names: tuple[str, ...], files: dict[str, list[Path]]) -> tuple[ImageItem, ...]:
    return tuple(
        ImageItem(path, label) for label, name in enumerate(class_names) for path in files[name]
    )


def _verify(
    root: Path,
    paths: list[Path],
    progress: Progress | None,
    cancel: Cancel | None,
    workers: int | None,
) -> dict[Path, SkippedFile]:
    """The unusable files among `paths`: decoded unless the folder's record already knows them."""
    record = CheckRecord(root)
    stamps = [file_stamp(path) for path in paths]
    stamped = list(zip(paths, stamps, strict=True))
    outcomes = {path: record.outcome(path, stamp) for path, stamp in stamped}
    unknown = [path for path, outcome in outcomes.items() if outcome is None]
    known = len(paths) - len(unknown)

    def check(chunk: Sequence[Path]) -> list[tuple[Path, str]]:
        found = []
        for path in chunk:
            try:
                open_image(path)
                found.append((path, ""))
            except ImageFileError as exc:
                found.append((path, exc.summary))
        return found

    report = None if progress is None else (lambda done, total: progress(known + done, len(paths)))
    if progress is not None and known:
        progress(known, len(paths))
    for found in run_chunked(check, unknown, report, cancel, workers):
        outcomes.update(found)
    if unknown:
        record.save((path, stamp, outcomes[path]) for path, stamp in stamped)
    return {path: SkippedFile(path, reason) for path, reason in outcomes.items() if reason}


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
