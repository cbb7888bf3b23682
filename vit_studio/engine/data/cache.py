"""The decoded images of a folder in one memory-mapped uint8 file, so memory stays flat in the
folder's size and a second run decodes nothing.

One cache per folder and image size lives in the user's cache directory (`location`): a raw
array [N, 3, S, S] of uint8 (`<key>-<build>.u8`, each image's shorter side resized to S with
bilinear antialiasing, then the centre square, as `images.resize_center_crop`) and an index
(`<key>.json`) naming that file, each row's path, size and modification time, and the files that
did not decode. A request reuses every row whose file is unchanged and decodes only the rest;
the rows are laid out in the order asked for, so the training and validation images of a run are
two contiguous views of one mapping and no image is ever copied into process memory. Batches are
gathered from the mapping (page cache, which the kernel can drop again, not the process's own
memory).

A rebuilt array gets a new file name and the index is replaced atomically after it, so a run still
reading the old mapping (the GUI fine-tuning while `evaluate` runs) keeps its file, and a crash
leaves the previous cache usable. Files no index names are removed by the next build.

Several processes may ask for one folder's cache at once (the window and a CLI run): a lock file
beside the index (`<key>.lock`, `filelock`: released by the system if its holder dies) makes them
take turns from reading the index to mapping the result, so none removes a file another is still
writing, and the later one reuses what the earlier one decoded.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock, Timeout

from vit_studio.engine.callbacks import Cancel, Progress
from vit_studio.engine.data.checked import FileStamp, file_stamp, folder_key
from vit_studio.engine.data.location import CACHE_DIR_VARIABLE, cache_dir
from vit_studio.engine.data.pool import run_chunked
from vit_studio.engine.data.scan import ImageItem, SkippedFile
from vit_studio.engine.errors import Cancelled, StudioError
from vit_studio.engine.fileio import fsync_file, write_text_atomic
from vit_studio.engine.images import ImageFileError, open_image, resize_center_crop

# Bump when the decoded pixels of a file would change (resampling, crop, colour conversion).
PREPROCESSING = "shorter side bilinear antialiased, centre square; v1"
_INDEX_VERSION = 1
_COPY_ROWS = 64  # rows copied per step when a build reuses an older array
_SPARE_BYTES = 256 * 2**20  # left free on the cache's disk after a build
_LOCK_POLL_S = 0.1  # how often a request waiting for another process's build checks for cancel


@dataclass(frozen=True)
class CacheUse:
    """How one request was served: images decoded now, rows reused, and what decoding the reused
    ones took when they were cached (from the index's recorded mean, so an estimate)."""

    file: Path
    decoded: int
    reused: int
    reused_decode_seconds: float
    seconds: float
    waited_seconds: float = 0.0  # for another process building this folder's cache

    def describe(self) -> str:
        """One line for people, e.g. "reused 6,000 cached images (decoding them took about
        41 s)"."""
        if not self.reused:
            text = f"decoded {self.decoded:,} images into the cache in {self.seconds:.1f} s"
        else:
            text = (
                f"reused {self.reused:,} cached images (decoding them took about "
                f"{self.reused_decode_seconds:.1f} s)"
            )
            if self.decoded:
                text += f", decoded {self.decoded:,} new or changed"
        if self.waited_seconds >= 0.5:
            text += f", after waiting {self.waited_seconds:.1f} s for another run building it"
        return text


@dataclass(frozen=True)
class CachedImages:
    """Decoded, square-cropped images packed for training, in the order of the items given.

    `images` is uint8 [N, 3, S, S]; from `cache_images` it is a view of the memory-mapped cache
    file (read it by batches: `images[index]` copies only those rows). `cache` says how the
    request was served (None for images built in memory, e.g. by tests and benchmarks).
    """

    images: torch.Tensor
    labels: torch.Tensor
    paths: tuple[Path, ...]
    skipped: tuple[SkippedFile, ...]
    cache: CacheUse | None = None


def cache_images(
    items: Sequence[ImageItem],
    size: int,
    *,
    root: str | os.PathLike | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    workers: int | None = None,
) -> CachedImages:
    """The images of `items` at `size` (shorter side resized, centre crop), from the cache of the
    folder `root` (default: the items' common folder), decoding only files new or changed since
    it was built.

    A file that does not decode (changed or deleted since the scan) is left out and listed in
    `skipped`; only when nothing decodes is a `StudioError` raised, as for a cache that cannot be
    written (naming its folder and the fix). `progress(done, total)` is called as chunks finish
    and `cancel()` polled between them; cancelling raises `Cancelled` and keeps the old cache.
    """
    return cache_parts([items], size, root=root, progress=progress, cancel=cancel,
                       workers=workers)[0]  # fmt: skip


def cache_parts(
    parts: Sequence[Sequence[ImageItem]],
    size: int,
    *,
    root: str | os.PathLike | None = None,
    progress: Progress | None = None,
    cancel: Cancel | None = None,
    workers: int | None = None,
) -> list[CachedImages]:
    """`cache_images` of several lists of items (a run's training and validation images) from
    one cache file: each part is a contiguous view of the same mapping."""
    if size < 1:
        raise StudioError(f"cache image size {size} is too small; use a positive size, e.g. 224")
    items = [item for part in parts for item in part]
    if not items:
        raise StudioError("no images to load; add images to the class folders")
    folder = Path(root) if root is not None else _common_folder(items)
    started = time.monotonic()
    directory = cache_dir("images")
    key = f"{folder_key(folder)}-{size}px"
    # Mapped before the lock is let go: the next build may remove any file its index does not name.
    with _turn(directory / f"{key}.lock", cancel) as waited:
        build = _Build(directory, key, size, items)
        build.run(progress, cancel, workers)
        kept = [k for k, item in enumerate(items) if build.failures.get(k) is None]
        if not kept:
            raise StudioError(
                f"none of the {len(items)} images could be decoded (first: {items[0].path}); "
                "check that the dataset folder is still there and rescan it"
            )
        images = torch.from_numpy(build.open())
    use = CacheUse(
        file=build.data_file,
        decoded=build.decoded,
        reused=build.reused,
        reused_decode_seconds=build.reused * build.seconds_per_image,
        seconds=time.monotonic() - started,
        waited_seconds=waited,
    )
    cached, start, row = [], 0, 0
    for part in parts:
        indices = range(start, start + len(part))
        good = [k for k in indices if k not in build.failures]
        cached.append(CachedImages(
            images=images[row : row + len(good)],
            labels=torch.tensor([items[k].label for k in good], dtype=torch.int64),
            paths=tuple(items[k].path for k in good),
            skipped=tuple(build.failures[k] for k in indices if k in build.failures),
            cache=use,
        ))  # fmt: skip
        start += len(part)
        row += len(good)
    return cached


@contextlib.contextmanager
def _turn(lock_path: Path, cancel: Cancel | None) -> Iterator[float]:
    """Hold the cache's lock (waiting for another process's build, and honouring `cancel` while
    waiting); yields the seconds waited."""
    lock = FileLock(lock_path)
    started = time.monotonic()
    while True:
        try:
            lock.acquire(timeout=_LOCK_POLL_S)
            break
        except Timeout:
            if cancel is not None and cancel():
                raise Cancelled("stopped while another run was building the image cache") from None
        except OSError as exc:
            raise StudioError(
                f"{lock_path.parent}: cannot write the image cache ({exc.strerror or exc}); set "
                f"{CACHE_DIR_VARIABLE} to a folder you may write"
            ) from exc
    try:
        yield time.monotonic() - started
    finally:
        lock.release()


class _Build:
    """One request against one folder's cache: what to reuse, what to decode, and the result."""

    def __init__(self, directory: Path, key: str, size: int, items: Sequence[ImageItem]) -> None:
        self.size = size
        self.items = items
        self.directory = directory
        self.key = key
        self.index_path = self.directory / f"{self.key}.json"
        self.names = [os.path.abspath(item.path) for item in items]
        self.stamps = [file_stamp(item.path) for item in items]
        self.failures: dict[int, SkippedFile] = {}
        self.decoded = self.reused = 0
        self.old = _read_index(self.index_path, size)
        if self.old is not None and not self._old_data_intact():
            self.old = None
        self.seconds_per_image = float(self.old.get("seconds_per_image", 0.0)) if self.old else 0.0
        self.data_file = self.directory / "missing.u8"

    def _old_data_intact(self) -> bool:
        """Whether the array the index names is there with one row per indexed file."""
        try:
            length = (self.directory / self.old["data"]).stat().st_size
            return length == len(self.old["rows"]) * int(np.prod(self.row_shape))
        except (OSError, KeyError, TypeError):
            return False

    @property
    def row_shape(self) -> tuple[int, int, int]:
        return (3, self.size, self.size)

    def run(self, progress: Progress | None, cancel: Cancel | None, workers: int | None) -> None:
        old_rows: dict[tuple[str, FileStamp], int] = {}
        old_failed: dict[tuple[str, FileStamp], str] = {}
        if self.old:
            old_rows = {(name, (s, m)): k for k, (name, s, m) in enumerate(self.old["rows"])}
            old_failed = {(name, (s, m)): why for name, s, m, why in self.old["failed"]}
        reuse: dict[int, int] = {}  # request position -> old row
        decode: list[int] = []
        for k, (name, stamp) in enumerate(zip(self.names, self.stamps, strict=True)):
            if stamp is not None and (name, stamp) in old_rows:
                reuse[k] = old_rows[(name, stamp)]
            elif stamp is not None and (name, stamp) in old_failed:
                self.failures[k] = SkippedFile(self.items[k].path, old_failed[(name, stamp)])
            else:
                decode.append(k)
        self.reused = len(reuse)
        candidates = [k for k in range(len(self.items)) if k not in self.failures]
        if not candidates:
            return
        if not decode and list(reuse.values()) == list(range(len(self.old["rows"]))):
            self.data_file = self.directory / self.old["data"]
            return  # the cache is exactly this request: nothing to write
        self._write(candidates, reuse, decode, progress, cancel, workers)

    def _write(
        self,
        candidates: list[int],
        reuse: dict[int, int],
        decode: list[int],
        progress: Progress | None,
        cancel: Cancel | None,
        workers: int | None,
    ) -> None:
        row_bytes = int(np.prod(self.row_shape))
        needed = len(candidates) * row_bytes
        free = shutil.disk_usage(self.directory).free
        if needed + _SPARE_BYTES > free:
            raise StudioError(
                f"{self.directory}: not enough disk space for the image cache (needs "
                f"{needed / 2**20:,.0f} MB, {free / 2**20:,.0f} MB free); free some space or set "
                f"{CACHE_DIR_VARIABLE} to a folder on a disk with room"
            )
        data_file = self.directory / f"{self.key}-{secrets.token_hex(4)}.u8"
        position = {k: row for row, k in enumerate(candidates)}
        try:
            buffer = np.memmap(data_file, dtype=np.uint8, mode="w+",
                               shape=(len(candidates), *self.row_shape))  # fmt: skip
            self._copy_reused(buffer, reuse, position)
            started = time.monotonic()
            self._decode(buffer, decode, position, progress, cancel, workers)
            if decode:
                seconds = time.monotonic() - started
                total = self.reused + len(decode)
                self.seconds_per_image = (
                    self.seconds_per_image * self.reused + seconds
                ) / max(total, 1)
            kept = self._compact(buffer, candidates, position)
            buffer.flush()
            del buffer
            os.truncate(data_file, kept * row_bytes)
            # On the disk before the index names it: after a power cut, an index pointing at
            # rows that never reached the disk would hand out black images as if decoded.
            fsync_file(data_file)
            self._save_index(data_file, [k for k in candidates if k not in self.failures])
        except BaseException:
            data_file.unlink(missing_ok=True)
            raise
        self.data_file = data_file
        self._remove_stale()

    def _copy_reused(
        self, buffer: np.memmap, reuse: dict[int, int], position: dict[int, int]
    ) -> None:
        if not reuse:
            return
        old = np.memmap(self.directory / self.old["data"], dtype=np.uint8, mode="r",
                        shape=(len(self.old["rows"]), *self.row_shape))  # fmt: skip
        pairs = sorted((position[k], row) for k, row in reuse.items())
        for start in range(0, len(pairs), _COPY_ROWS):
            chunk = pairs[start : start + _COPY_ROWS]
            buffer[[new for new, _ in chunk]] = old[[row for _, row in chunk]]
        del old

    def _decode(
        self,
        buffer: np.memmap,
        decode: list[int],
        position: dict[int, int],
        progress: Progress | None,
        cancel: Cancel | None,
        workers: int | None,
    ) -> None:
        size = self.size

        def work(chunk: Sequence[int]) -> list[tuple[int, SkippedFile]]:
            failures = []
            for k in chunk:
                path = self.items[k].path
                try:
                    square = resize_center_crop(open_image(path), size, size, "bilinear")
                except ImageFileError as exc:
                    failures.append((k, SkippedFile(path, exc.summary)))
                    continue
                buffer[position[k]] = np.asarray(square).transpose(2, 0, 1)
            return failures

        total = self.reused + len(decode)
        report = None
        if progress is not None:
            report = lambda done, _total: progress(self.reused + done, total)  # noqa: E731
            progress(self.reused, total)
        for failures in run_chunked(work, decode, report, cancel, workers):
            self.failures.update(failures)
        self.decoded = len(decode) - sum(1 for k in decode if k in self.failures)

    def _compact(
        self, buffer: np.memmap, candidates: list[int], position: dict[int, int]
    ) -> int:
        """Close the gaps left by files that failed to decode; the number of rows kept."""
        row = 0
        for k in candidates:
            if k in self.failures:
                continue
            if position[k] != row:
                buffer[row] = buffer[position[k]]
            row += 1
        return row

    def _save_index(self, data_file: Path, rows: list[int]) -> None:
        document = {
            "version": _INDEX_VERSION,
            "preprocessing": PREPROCESSING,
            "size": self.size,
            "data": data_file.name,
            "seconds_per_image": self.seconds_per_image,
            "rows": [[self.names[k], *self.stamps[k]] for k in rows],
            "failed": [
                [self.names[k], *self.stamps[k], failure.reason]
                for k, failure in sorted(self.failures.items())
                if self.stamps[k] is not None
            ],
        }
        write_text_atomic(self.index_path, json.dumps(document), "the image cache index")

    def open(self) -> np.ndarray:
        """The cache's rows, memory-mapped copy-on-write (so torch gets a writable array; nothing
        writes to it, and pages stay the file's)."""
        rows = self.data_file.stat().st_size // int(np.prod(self.row_shape))
        return np.memmap(self.data_file, dtype=np.uint8, mode="c",
                         shape=(rows, *self.row_shape))  # fmt: skip

    def _remove_stale(self) -> None:
        """Delete this folder's arrays no index names (older builds, interrupted builds). A file
        still mapped elsewhere stays readable there (POSIX) or is left for a later build."""
        for path in self.directory.glob(f"{self.key}-*.u8"):
            if path != self.data_file:
                with contextlib.suppress(OSError):
                    path.unlink()


def _read_index(path: Path, size: int) -> dict | None:
    """The cache index at `path` if it is one this version wrote for `size`, else None."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        not isinstance(document, dict)
        or document.get("version") != _INDEX_VERSION
        or document.get("preprocessing") != PREPROCESSING
        or document.get("size") != size
    ):
        return None
    return document


def _common_folder(items: Sequence[ImageItem]) -> Path:
    try:
        return Path(os.path.commonpath([os.path.abspath(item.path.parent) for item in items]))
    except ValueError:  # different drives (Windows)
        return items[0].path.parent
