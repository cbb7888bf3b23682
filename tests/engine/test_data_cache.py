"""data.cache and data.checked: a folder is decoded once into a memory-mapped file in the user's
cache directory; later requests decode only what changed, and a rescan re-checks only what
changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_image
from vit_studio.engine.data import cache as cache_module
from vit_studio.engine.data import cache_images, cache_parts, scan_folder
from vit_studio.engine.data import scan as scan_module
from vit_studio.engine.data.location import CACHE_DIR_VARIABLE, cache_dir
from vit_studio.engine.errors import Cancelled, StudioError
from vit_studio.engine.images import open_image, resize_center_crop


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache directory of this test alone, so each test starts with nothing cached."""
    home = tmp_path / "cache"
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(home))
    return home


@pytest.fixture
def folder(tmp_path: Path, cache_home: Path) -> Path:
    root = tmp_path / "photos"
    for label, name in enumerate(("ant", "bee")):
        for k in range(6):
            write_image(root / name / f"{k}.png", size=(30 + k, 20), seed=10 * label + k)
    return root


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file the cache decodes, in order."""
    seen: list[Path] = []

    def counting_open(path, *args, **kwargs):
        seen.append(Path(path))
        return open_image(path, *args, **kwargs)

    monkeypatch.setattr(cache_module, "open_image", counting_open)
    return seen


def expected_pixels(path: Path, size: int) -> np.ndarray:
    return np.asarray(resize_center_crop(open_image(path), size, size)).transpose(2, 0, 1)


def items_of(root: Path):
    scan = scan_folder(root, val_share=0.0)
    return list(scan.train)


def test_the_first_request_decodes_into_a_file_the_images_are_mapped_from(folder, decodes):
    items = items_of(folder)
    cached = cache_images(items, 16, root=folder)
    assert len(decodes) == 12 and cached.cache.decoded == 12 and cached.cache.reused == 0
    data = cached.cache.file
    assert data.parent == cache_dir("images") and data.stat().st_size == 12 * 3 * 16 * 16
    maps = Path("/proc/self/maps")
    if maps.exists():  # Linux: the process maps the file rather than holding a copy
        assert str(data) in maps.read_text()
    for k, item in enumerate(items):
        np.testing.assert_array_equal(cached.images[k].numpy(), expected_pixels(item.path, 16))


def test_an_unchanged_folder_is_not_decoded_again(folder, decodes):
    items = items_of(folder)
    first = cache_images(items, 16, root=folder)
    decodes.clear()
    again = cache_images(items, 16, root=folder)
    assert decodes == []
    assert again.cache.decoded == 0 and again.cache.reused == 12
    assert again.cache.file == first.cache.file
    assert again.cache.reused_decode_seconds > 0
    assert "reused 12 cached images" in again.cache.describe()
    np.testing.assert_array_equal(again.images.numpy(), first.images.numpy())


def test_only_new_and_changed_files_are_decoded(folder, decodes):
    cache_images(items_of(folder), 16, root=folder)
    changed = folder / "ant" / "2.png"
    write_image(changed, size=(50, 40), seed=99)
    os.utime(changed, ns=(1, 1))  # a different stamp even on a coarse clock
    write_image(folder / "bee" / "new.png", size=(25, 25), seed=98)
    (folder / "bee" / "0.png").unlink()
    decodes.clear()
    items = items_of(folder)
    cached = cache_images(items, 16, root=folder)
    assert sorted(decodes) == sorted([changed, folder / "bee" / "new.png"])
    assert cached.cache.decoded == 2 and cached.cache.reused == 10
    assert cached.images.shape[0] == 12 == len(items)
    for k, item in enumerate(items):
        np.testing.assert_array_equal(cached.images[k].numpy(), expected_pixels(item.path, 16))
    # the previous array was replaced, not kept beside the new one
    assert list(cache_dir("images").glob("*.u8")) == [cached.cache.file]


def test_each_size_has_its_own_cache(folder, decodes):
    items = items_of(folder)
    small = cache_images(items, 8, root=folder)
    large = cache_images(items, 16, root=folder)
    assert small.cache.file != large.cache.file and len(decodes) == 24
    assert small.images.shape[-1] == 8 and large.images.shape[-1] == 16


def test_parts_are_contiguous_views_of_one_file_in_the_order_asked(folder, decodes):
    scan = scan_folder(folder, val_share=0.34)
    train, val = cache_parts([scan.train, scan.val], 16, root=folder)
    assert train.cache.file == val.cache.file
    assert train.paths == tuple(i.path for i in scan.train)
    assert val.paths == tuple(i.path for i in scan.val)
    assert val.labels.tolist() == [i.label for i in scan.val]
    np.testing.assert_array_equal(val.images[0].numpy(), expected_pixels(scan.val[0].path, 16))
    # another order of the same files (evaluate asks for all of them sorted): nothing decoded
    decodes.clear()
    everything = cache_images(items_of(folder), 16, root=folder)
    assert decodes == [] and everything.cache.reused == 12


def test_a_bad_file_is_skipped_in_its_part_and_not_decoded_again(folder, decodes):
    scan = scan_folder(folder, val_share=0.34)
    broken = scan.val[1].path
    broken.write_bytes(b"not an image")
    train, val = cache_parts([scan.train, scan.val], 16, root=folder)
    assert [s.path for s in val.skipped] == [broken] and train.skipped == ()
    assert len(val.paths) == len(scan.val) - 1 and broken not in val.paths
    np.testing.assert_array_equal(val.images[1].numpy(), expected_pixels(scan.val[2].path, 16))
    decodes.clear()
    _, again = cache_parts([scan.train, scan.val], 16, root=folder)
    assert decodes == [] and [s.reason for s in again.skipped] == [val.skipped[0].reason]


def test_a_cancelled_build_keeps_the_cache_it_had(folder, decodes):
    items = items_of(folder)
    cache_images(items, 16, root=folder)
    write_image(folder / "ant" / "late.png", size=(20, 20), seed=7)
    write_image(folder / "bee" / "later.png", size=(20, 20), seed=8)
    with pytest.raises(Cancelled):
        cache_images(items_of(folder), 16, root=folder, cancel=lambda: True)
    assert len(list(cache_dir("images").glob("*.u8"))) == 1
    decodes.clear()
    assert cache_images(items, 16, root=folder).cache.reused == 12 and decodes == []


def test_a_damaged_index_or_array_only_costs_a_rebuild(folder, decodes):
    items = items_of(folder)
    first = cache_images(items, 16, root=folder)
    index = next(cache_dir("images").glob("*.json"))
    index.write_text("{ not json")
    assert cache_images(items, 16, root=folder).cache.decoded == 12
    again = cache_images(items, 16, root=folder)
    os.truncate(again.cache.file, 100)  # a torn array: its length no longer fits the index
    rebuilt = cache_images(items, 16, root=folder)
    assert rebuilt.cache.decoded == 12
    np.testing.assert_array_equal(rebuilt.images.numpy(), first.images.numpy())
    assert json.loads(index.read_text())["data"] == rebuilt.cache.file.name


def test_a_full_disk_is_one_line_naming_the_cache_folder_and_the_variable(
    folder, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(
        cache_module.shutil, "disk_usage", lambda _path: type("U", (), {"free": 1000})()
    )
    with pytest.raises(StudioError) as error:
        cache_images(items_of(folder), 16, root=folder)
    message = str(error.value)
    assert "\n" not in message and str(cache_dir("images")) in message
    assert CACHE_DIR_VARIABLE in message and "disk space" in message


def test_an_unwritable_cache_folder_is_one_line_with_the_fix(tmp_path, monkeypatch, folder):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    monkeypatch.setenv(CACHE_DIR_VARIABLE, str(blocker))
    with pytest.raises(StudioError) as error:
        cache_images(items_of(folder), 16, root=folder)
    assert "\n" not in str(error.value) and CACHE_DIR_VARIABLE in str(error.value)


def test_a_rescan_checks_only_new_or_changed_files(folder, monkeypatch: pytest.MonkeyPatch):
    checked: list[Path] = []

    def counting_open(path, *args, **kwargs):
        checked.append(Path(path))
        return open_image(path, *args, **kwargs)

    monkeypatch.setattr(scan_module, "open_image", counting_open)
    (folder / "bee" / "3.png").write_bytes(b"broken")
    first = scan_folder(folder)
    assert len(checked) == 12 and [s.path.name for s in first.skipped] == ["3.png"]
    checked.clear()
    progress: list[tuple[int, int]] = []
    again = scan_folder(folder, progress=lambda done, total: progress.append((done, total)))
    assert checked == [] and again == first and progress[-1] == (12, 12)
    write_image(folder / "bee" / "3.png", size=(20, 20), seed=5)  # repaired
    checked.clear()
    repaired = scan_folder(folder)
    assert checked == [folder / "bee" / "3.png"] and repaired.skipped == ()


def test_two_processes_building_one_folders_cache_at_once_both_get_correct_images(
    tmp_path, cache_home
):
    # The window and a CLI run on one folder: overlapping requests, one much slower to decode,
    # so the faster one finishes (and tidies the cache) while the slower one is still writing.
    root = tmp_path / "shared"
    for label, name in enumerate(("ant", "bee")):
        for k in range(30):
            write_image(root / name / f"{k:02d}.png", size=(30 + k, 20), seed=100 * label + k)
    requests = {"fast": (0, 40, 0.005), "slow": (20, 60, 0.02)}
    builders = {
        name: subprocess.Popen(
            [sys.executable, "-m", "tests.engine.cache_builder", str(root), "16", str(first),
             str(last), str(delay), str(tmp_path / f"{name}.npz")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=os.environ | {CACHE_DIR_VARIABLE: str(cache_home)},
        )  # fmt: skip
        for name, (first, last, delay) in requests.items()
    }
    for builder in builders.values():
        assert builder.stdout.readline().strip() == "ready"
    for builder in builders.values():
        builder.stdin.write("go\n")
        builder.stdin.flush()
    for name, builder in builders.items():
        _, errors = builder.communicate(timeout=300)
        assert builder.returncode == 0, f"{name}: {errors}"
    items = items_of(root)
    for name, (first, last, _) in requests.items():
        got = np.load(tmp_path / f"{name}.npz")
        assert list(got["paths"]) == [str(item.path) for item in items[first:last]]
        for row, item in zip(got["images"], items[first:last], strict=True):
            np.testing.assert_array_equal(row, expected_pixels(item.path, 16))
    # They took turns: the second reused the 20 images both asked for instead of decoding them.
    reused = sorted(int(np.load(tmp_path / f"{name}.npz")["reused"]) for name in requests)
    assert reused == [0, 20]
