"""data: folders are scanned, verified, split reproducibly and cached; bad files are reported."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import write_image
from vit_studio.engine.data import (
    CachedImages,
    FolderScan,
    ImageItem,
    SkippedFile,
    UntrainableFolder,
    cache_images,
    scan_folder,
)
from vit_studio.engine.errors import Cancelled, StudioError
from vit_studio.engine.images import open_image, resize_center_crop


def make_class(folder: Path, count: int, seed: int = 0, size: tuple[int, int] = (12, 9)) -> None:
    for k in range(count):
        write_image(folder / f"img{k:02d}.png", size=size, seed=seed * 100 + k)


def truncated_jpeg(path: Path) -> None:
    write_image(path, size=(40, 30))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    """Three classes with every kind of clutter a real folder has."""
    root = tmp_path / "pets"
    make_class(root / "cat", 5, seed=1)
    make_class(root / "dog", 4, seed=2, size=(40, 30))
    make_class(root / "dog" / "puppies" / "small", 2, seed=3, size=(8, 8))  # nested: still dogs
    make_class(root / "eel", 3, seed=4, size=(9, 20))
    write_image(root / "eel" / "eel.JPG", size=(16, 16), seed=5, mode="L")
    (root / "cat" / "empty.jpg").write_bytes(b"")
    (root / "cat" / "notes.jpg").write_text("not a picture")
    (root / "dog" / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    truncated_jpeg(root / "eel" / "half.jpg")
    (root / "cat" / ".DS_Store").write_bytes(b"junk")
    (root / "dog" / "._img00.png").write_bytes(b"appledouble")
    (root / "eel" / "README.txt").write_text("eels")
    (root / ".hidden_class").mkdir()
    (root / "LICENSE").write_text("CC-BY")
    return root


def test_scan_finds_classes_nested_images_and_reports_every_bad_file(messy: Path) -> None:
    scan = scan_folder(messy)
    assert isinstance(scan, FolderScan)
    assert scan.root == messy and not scan.has_val_folder
    assert scan.class_names == ("cat", "dog", "eel")
    counts = scan.class_counts()
    assert {name: sum(c) for name, c in counts.items()} == {"cat": 5, "dog": 6, "eel": 4}
    assert all(val >= 1 and train >= 1 for train, val in counts.values())
    assert any("puppies" in str(item.path) and item.label == 1 for item in scan.train + scan.val)

    reasons = {s.path.name: s.reason for s in scan.skipped}
    assert reasons == {"empty.jpg": "empty", "notes.jpg": "not an image",
                       "garbage.png": "corrupt (the header is damaged)", "half.jpg": "truncated"}
    assert all(isinstance(s, SkippedFile) for s in scan.skipped)
    # .DS_Store, ._img00.png, README.txt, .hidden_class, LICENSE
    assert scan.ignored == 5

    report = scan.report()
    assert "3 classes" in report
    assert "cat/notes.jpg: not an image" in report and "eel/half.jpg: truncated" in report
    assert "5 files ignored" in report
    for name, (train, val) in counts.items():
        assert any(name in line and f"{train} train" in line and f"{val} val" in line
                   for line in report.splitlines())


def test_items_are_labelled_sorted_and_disjoint(messy: Path) -> None:
    scan = scan_folder(messy)
    for items in (scan.train, scan.val):
        assert all(isinstance(i, ImageItem) for i in items)
        assert list(items) == sorted(items, key=lambda i: (i.label, str(i.path)))
        for item in items:
            assert item.path.relative_to(messy).parts[0] == scan.class_names[item.label]
    assert not {i.path for i in scan.train} & {i.path for i in scan.val}


def test_without_verify_every_image_named_file_is_kept(messy: Path) -> None:
    scan = scan_folder(messy, verify=False)
    assert scan.skipped == ()
    assert sum(sum(c) for c in scan.class_counts().values()) == 19


def test_split_is_stratified_and_reproducible(tmp_path: Path) -> None:
    make_class(tmp_path / "a", 10)
    make_class(tmp_path / "b", 5)
    make_class(tmp_path / "c", 2)
    scan = scan_folder(tmp_path, val_share=0.2, seed=3, verify=False)
    assert scan.class_counts() == {"a": (8, 2), "b": (4, 1), "c": (1, 1)}
    assert scan_folder(tmp_path, val_share=0.2, seed=3, verify=False) == scan
    other_seeds = {scan_folder(tmp_path, seed=s, verify=False).val for s in range(4, 10)}
    assert len(other_seeds | {scan.val}) > 1

    none_held_out = scan_folder(tmp_path, val_share=0.0, verify=False)
    assert none_held_out.val == () and len(none_held_out.train) == 17


def test_split_ignores_where_and_in_which_order_files_were_written(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    for root, order in ((first, range(12)), (second, reversed(range(12)))):
        for k in order:
            for name in ("x", "y"):
                write_image(root / name / f"{k:02d}.png", size=(8, 8), seed=k)
    relative = [
        sorted(i.path.relative_to(root).as_posix() for i in scan_folder(root, seed=7).val)
        for root in (first, second)
    ]
    assert relative[0] == relative[1]


def test_train_val_layout(tmp_path: Path) -> None:
    for split, count in (("train", 3), ("val", 2)):
        for name in ("ant", "bee"):
            make_class(tmp_path / split / name, count, seed=len(name))
    (tmp_path / "test").mkdir()
    (tmp_path / "README.md").write_text("bugs")
    truncated_jpeg(tmp_path / "val" / "bee" / "cut.jpg")

    scan = scan_folder(tmp_path, val_share=0.5)
    assert scan.has_val_folder
    assert scan.class_names == ("ant", "bee")
    assert scan.class_counts() == {"ant": (3, 2), "bee": (3, 2)}
    assert all(i.path.parts[-3] == "val" for i in scan.val)
    assert [s.path.name for s in scan.skipped] == ["cut.jpg"]
    assert scan.ignored == 2
    assert "val/ folder" in scan.report()


def test_a_lone_train_folder_is_split_automatically(tmp_path: Path) -> None:
    make_class(tmp_path / "train" / "a", 4)
    make_class(tmp_path / "train" / "b", 4)
    scan = scan_folder(tmp_path, verify=False)
    assert not scan.has_val_folder and scan.class_names == ("a", "b")
    assert scan.class_counts() == {"a": (3, 1), "b": (3, 1)}


def test_a_class_called_train_is_just_a_class(tmp_path: Path) -> None:
    make_class(tmp_path / "train", 2)
    make_class(tmp_path / "tram", 2)
    assert scan_folder(tmp_path, verify=False).class_names == ("train", "tram")


def assert_one_line(error: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_mismatched_train_val_classes_name_the_difference(tmp_path: Path) -> None:
    for split, names in (("train", ("ant", "bee", "cat")), ("val", ("ant", "bee", "dog"))):
        for name in names:
            make_class(tmp_path / split / name, 2)
    with pytest.raises(StudioError) as error:
        scan_folder(tmp_path)
    assert_one_line(error, "only in train/: cat", "only in val/: dog")


@pytest.mark.parametrize(
    ("layout", "fragments"),
    [
        ({"only": 3}, ("found only 'only'", "at least 2 class")),
        ({}, ("found none",)),
        ({"a": 3, "b": 1}, ("'b' has 1", "at least 2")),
        ({"a": 3, "b": 0, "c": 1}, ("'b' has 0", "'c' has 1")),
    ],
)
def test_too_few_classes_or_images(tmp_path: Path, layout, fragments) -> None:
    root = tmp_path / "data"
    root.mkdir()
    for name, count in layout.items():
        (root / name).mkdir()
        make_class(root / name, count)
    with pytest.raises(StudioError) as error:
        scan_folder(root)
    assert_one_line(error, str(root), *fragments)


def test_classes_emptied_by_bad_files_are_refused_before_training(tmp_path: Path) -> None:
    make_class(tmp_path / "good", 3)
    write_image(tmp_path / "bad" / "ok.png", size=(8, 8))
    truncated_jpeg(tmp_path / "bad" / "cut.jpg")
    assert scan_folder(tmp_path, verify=False).class_counts()["bad"] == (1, 1)
    with pytest.raises(StudioError) as error:
        scan_folder(tmp_path)
    assert_one_line(error, "'bad' has 1", "after skipping 1 unusable file")


def test_a_folder_with_one_class_is_refused_with_what_it_holds(tmp_path: Path) -> None:
    make_class(tmp_path / "cats", 3)
    write_image(tmp_path / "loose.png")  # beside the class folders: not part of any class
    with pytest.raises(UntrainableFolder) as error:
        scan_folder(tmp_path)
    assert_one_line(error, "found only 'cats'", "put each class's images in its own subfolder")
    found = error.value.scan
    assert found.class_names == ("cats",)
    assert sum(found.class_counts()["cats"]) == 3
    assert found.ignored == 1
    assert error.value.short_classes == ()  # the fix is another class, not more cats


def test_a_class_left_with_one_usable_image_is_refused_with_the_counts_and_skipped_files(
    tmp_path: Path,
) -> None:
    make_class(tmp_path / "good", 5)
    write_image(tmp_path / "bad" / "ok.png", size=(8, 8))
    truncated_jpeg(tmp_path / "bad" / "cut.jpg")
    with pytest.raises(UntrainableFolder) as error:
        scan_folder(tmp_path)
    assert_one_line(error, "'bad' has 1", "add images to that class folder or remove the class")
    assert error.value.short_classes == ("bad",)
    found = error.value.scan
    assert found.class_names == ("bad", "good")
    assert found.class_counts() == {"bad": (1, 0), "good": (4, 1)}  # as a run would split them
    assert [(s.path.name, s.reason) for s in found.skipped] == [("cut.jpg", "truncated")]


def test_only_problems_of_the_images_found_carry_a_scan(tmp_path: Path) -> None:
    """Problems found before any class is listed are plain `StudioError`s: nothing to show."""
    for split, names in (("train", ("ant", "bee")), ("val", ("ant", "cat"))):
        for name in names:
            make_class(tmp_path / split / name, 2)
    with pytest.raises(StudioError) as error:
        scan_folder(tmp_path)
    assert not isinstance(error.value, UntrainableFolder)


def test_val_folder_class_without_images(tmp_path: Path) -> None:
    for name in ("a", "b"):
        make_class(tmp_path / "train" / name, 2)
    make_class(tmp_path / "val" / "a", 1)
    (tmp_path / "val" / "b").mkdir(parents=True)
    with pytest.raises(UntrainableFolder) as error:
        scan_folder(tmp_path)
    assert_one_line(error, str(tmp_path / "val"), "'b' has 0")
    assert error.value.short_classes == ("b",)
    assert error.value.scan.class_counts() == {"a": (2, 1), "b": (2, 0)}


def test_bad_roots_and_options(tmp_path: Path) -> None:
    with pytest.raises(StudioError) as error:
        scan_folder(tmp_path / "missing")
    assert_one_line(error, "missing does not exist")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(StudioError) as error:
        scan_folder(tmp_path / "file.txt")
    assert_one_line(error, "file.txt is not a folder")
    for share in (-0.1, 1.0):
        with pytest.raises(StudioError) as error:
            scan_folder(tmp_path, val_share=share)
        assert_one_line(error, str(share))


def test_scan_progress_and_cancel(messy: Path) -> None:
    calls: list[tuple[int, int]] = []
    scan_folder(messy, progress=lambda done, total: calls.append((done, total)), workers=2)
    assert calls[-1] == (19, 19)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    with pytest.raises(Cancelled):
        scan_folder(messy, cancel=lambda: True)


@pytest.fixture
def small_scan(tmp_path: Path) -> FolderScan:
    make_class(tmp_path / "a", 20, seed=1, size=(40, 30))
    make_class(tmp_path / "b", 20, seed=2, size=(9, 20))
    return scan_folder(tmp_path)


@pytest.mark.parametrize("workers", [1, 2])
def test_cache_holds_exactly_what_preprocessing_gives(small_scan: FolderScan, workers) -> None:
    items = small_scan.train + small_scan.val
    cached = cache_images(items, 16, workers=workers)
    assert isinstance(cached, CachedImages)
    assert cached.images.shape == (40, 3, 16, 16) and cached.images.dtype == torch.uint8
    assert cached.labels.dtype == torch.int64
    assert cached.labels.tolist() == [i.label for i in items]
    assert cached.paths == tuple(i.path for i in items)
    assert cached.skipped == ()
    for k in (0, len(items) - 1):
        expected = np.asarray(resize_center_crop(open_image(items[k].path), 16, 16))
        np.testing.assert_array_equal(cached.images[k].permute(1, 2, 0).numpy(), expected)


def test_files_lost_after_the_scan_are_skipped_not_fatal(small_scan: FolderScan) -> None:
    items = small_scan.train
    items[3].path.unlink()
    truncated_jpeg(items[5].path.with_suffix(".jpg"))
    items[5].path.write_bytes(items[5].path.with_suffix(".jpg").read_bytes())
    cached = cache_images(items, 8)
    assert len(cached.paths) == len(items) - 2
    assert [s.path for s in cached.skipped] == [items[3].path, items[5].path]
    assert cached.skipped[0].reason.startswith("unreadable (file not found")
    assert cached.skipped[1].reason == "truncated"
    kept = [i for k, i in enumerate(items) if k not in (3, 5)]
    assert cached.labels.tolist() == [i.label for i in kept]
    assert cached.images.shape[0] == len(kept)


def test_cache_fails_only_when_nothing_decodes(tmp_path: Path) -> None:
    items = [ImageItem(tmp_path / "gone.png", 0)]
    with pytest.raises(StudioError) as error:
        cache_images(items, 8)
    assert_one_line(error, "gone.png")
    with pytest.raises(StudioError):
        cache_images([], 8)


def test_cache_progress_and_cancel(small_scan: FolderScan) -> None:
    items = small_scan.train + small_scan.val
    calls: list[tuple[int, int]] = []
    cache_images(items, 8, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (40, 40)
    assert len(calls) >= 2 and [d for d, _ in calls] == sorted(d for d, _ in calls)

    polls = []

    def cancel_after_first_chunk() -> bool:
        polls.append(1)
        return len(polls) > 1

    seen: list[int] = []
    with pytest.raises(Cancelled):  # another size: nothing cached yet, so there is decoding
        cache_images(items, 12, progress=lambda done, total: seen.append(done),
                     cancel=cancel_after_first_chunk, workers=2)
    assert seen and seen[-1] < 40


def test_real_cifar_files(cifar_train: Path, tmp_path: Path) -> None:
    for name in ("airplane", "cat", "truck"):
        for source in sorted((cifar_train / name).iterdir())[:10]:
            (tmp_path / name).mkdir(exist_ok=True)
            shutil.copy(source, tmp_path / name / source.name)
    scan = scan_folder(tmp_path)
    assert scan.skipped == () and scan.class_counts() == {
        "airplane": (8, 2), "cat": (8, 2), "truck": (8, 2)}
    cached = cache_images(scan.train, 32)
    assert cached.images.shape == (24, 3, 32, 32)
    assert cached.images.float().std() > 10  # real pictures, not blank buffers
