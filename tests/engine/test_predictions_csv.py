"""The predictions CSV grows batch by batch in a temporary file, is renamed into place at the end
and on an interrupt (cut back to its complete rows), and leaves an existing file alone until then;
class-folder trees are listed with their subfolders and a true_label."""

import csv
import io
from pathlib import Path

import pytest

from tests.conftest import write_image
from tests.stock_predictions import stock_top_k
from vit_studio.engine import predictions_csv
from vit_studio.engine.errors import Cancelled, StudioError
from vit_studio.engine.predictions_csv import (
    ImageEntry,
    csv_header,
    image_entries,
    images_in_tree,
    write_predictions_csv,
)


@pytest.fixture
def images(tmp_path):
    paths = [write_image(tmp_path / "in" / f"img{i}.png", seed=i) for i in range(10)]
    (tmp_path / "in" / "img2.png").write_bytes(b"not a picture")
    return image_entries(paths)


def rows_of(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text())))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_one_row_per_image_with_k_labels_and_probabilities_equal_to_torchvision(
    tiny_model, images, tmp_path
):
    out = tmp_path / "out" / "predictions.csv"
    summary = write_predictions_csv(out, tiny_model, images, top_k=2, batch_size=4)
    rows = rows_of(out)
    assert rows[0] == ["image", "label_1", "probability_1", "label_2", "probability_2", "error"]
    assert [row[0] for row in rows[1:]] == [image.name for image in images]
    assert rows[3] == [images[2].name, "", "", "", "", "not an image"]
    for image, row in zip(images, rows[1:], strict=True):
        if row[-1]:
            continue
        indices, probabilities = stock_top_k(tiny_model, image.path, 2)
        assert row[1:5:2] == [tiny_model.label(i) for i in indices]
        assert [float(p) for p in row[2:5:2]] == pytest.approx(probabilities, abs=1e-6)
    assert (summary.rows, summary.total, summary.failures) == (10, 10, 1)
    assert leftovers(out.parent) == []


def test_rows_are_on_disk_after_each_batch_before_the_run_ends(tiny_model, images, tmp_path):
    out = tmp_path / "predictions.csv"
    seen = []

    def progress(done, total):
        (temporary,) = [tmp_path / name for name in leftovers(tmp_path)]
        seen.append((done, len(rows_of(temporary)) - 1))

    write_predictions_csv(out, tiny_model, images, batch_size=4, progress=progress)
    assert seen == [(4, 4), (8, 8), (10, 10)]


def test_a_cancel_keeps_exactly_the_finished_rows_header_included(tiny_model, images, tmp_path):
    full = tmp_path / "full.csv"
    write_predictions_csv(full, tiny_model, images, batch_size=4)
    out = tmp_path / "cancelled.csv"
    done = []
    with pytest.raises(Cancelled, match=f"kept 4 of 10 rows in {out}"):
        write_predictions_csv(out, tiny_model, images, batch_size=4,
                              progress=lambda d, t: done.append(d), cancelled=lambda: bool(done))
    assert rows_of(out) == rows_of(full)[:5]
    assert leftovers(tmp_path) == []


class TornWrites:
    """A file whose `write` number `fail_at` writes half its data, then gets Ctrl-C."""

    def __init__(self, handle, fail_at):
        self._handle, self._fail_at, self._writes = handle, fail_at, 0

    def write(self, data):
        self._writes += 1
        if self._writes == self._fail_at:
            self._handle.write(data[: len(data) // 2])
            self._handle.flush()
            raise KeyboardInterrupt
        return self._handle.write(data)

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()


def test_ctrl_c_in_the_middle_of_a_row_keeps_the_rows_before_it(tiny_model, images, tmp_path,
                                                                monkeypatch):
    full = tmp_path / "full.csv"
    write_predictions_csv(full, tiny_model, images, batch_size=4)
    # The handle is closed by TornWrites.__exit__, as the writer's `with` ends.
    torn = lambda path, mode: TornWrites(open(path, mode), fail_at=3)  # noqa: E731, SIM115
    monkeypatch.setattr(predictions_csv, "open", torn, raising=False)
    out = tmp_path / "interrupted.csv"
    # Writes: the header, the first batch, then half the second batch.
    with pytest.raises(KeyboardInterrupt, match="kept 4 of 10 rows"):
        write_predictions_csv(out, tiny_model, images, batch_size=4)
    assert out.read_text() == "".join(full.read_text().splitlines(keepends=True)[:5])
    assert leftovers(tmp_path) == []


def test_an_existing_file_is_replaced_only_when_the_run_ends(tiny_model, images, tmp_path):
    out = tmp_path / "predictions.csv"
    out.write_text("yesterday's results\n")
    during = []
    write_predictions_csv(out, tiny_model, images, batch_size=4,
                          progress=lambda d, t: during.append(out.read_text()))
    assert set(during) == {"yesterday's results\n"}
    assert rows_of(out)[0][0] == "image" and len(rows_of(out)) == 11


def test_an_interrupt_before_the_first_row_leaves_an_existing_file_as_it_was(
    tiny_model, images, tmp_path
):
    out = tmp_path / "predictions.csv"
    out.write_text("yesterday's results\n")
    with pytest.raises(Cancelled, match="no row was finished, so .* was left as it was"):
        write_predictions_csv(out, tiny_model, images, cancelled=lambda: True)
    assert out.read_text() == "yesterday's results\n"
    fresh = tmp_path / "fresh.csv"
    with pytest.raises(Cancelled, match="was not written"):
        write_predictions_csv(fresh, tiny_model, images, cancelled=lambda: True)
    assert not fresh.exists() and leftovers(tmp_path) == []


def test_a_failure_that_is_no_interrupt_leaves_an_existing_file_as_it_was(
    tiny_model, images, tmp_path
):
    out = tmp_path / "predictions.csv"
    out.write_text("yesterday's results\n")
    calls = []

    def broken_forward(module, args):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("a bug in the second batch")

    tiny_model.module.register_forward_pre_hook(broken_forward)
    with pytest.raises(RuntimeError, match="a bug"):
        write_predictions_csv(out, tiny_model, images, batch_size=4)
    assert out.read_text() == "yesterday's results\n" and leftovers(tmp_path) == []


def test_a_folder_as_the_target_is_refused_before_any_work(tiny_model, images, tmp_path):
    with pytest.raises(StudioError, match="is a folder; give a file name"):
        write_predictions_csv(tmp_path, tiny_model, images)


def test_a_class_folder_tree_is_listed_with_subfolders_relative_names_and_true_labels(tmp_path):
    root = tmp_path / "photos"
    for relative in ("b.png", "class 1/x.jpg", "class 0/z.png", "class 0/a.png",
                     "train/class 1/y.png", ".hidden/h.png", "class 0/.h.png"):
        write_image(root / relative)
    (root / "class 0" / "notes.txt").write_text("not an image")
    entries = images_in_tree(root)
    assert [(e.name, e.true_label) for e in entries] == [
        ("b.png", ""),
        ("class 0/a.png", "class 0"),
        ("class 0/z.png", "class 0"),
        ("class 1/x.jpg", "class 1"),
        ("train/class 1/y.png", "class 1"),
    ]
    assert all(e.path == root / e.name for e in entries)


def test_a_tree_csv_has_true_labels_and_counts_agreement_with_the_top_prediction(
    tiny_model, tmp_path
):
    root = tmp_path / "photos"
    for k in range(12):
        write_image(root / f"class {k % 3}" / f"{k}.png", seed=k)
    write_image(root / "unsorted.png")
    write_image(root / "not a class" / "o.png")
    out = tmp_path / "tree.csv"
    summary = write_predictions_csv(out, tiny_model, images_in_tree(root), batch_size=5)
    header, *rows = rows_of(out)
    assert header == csv_header(5, with_true_label=True)
    assert header[:3] == ["image", "true_label", "label_1"]
    labelled = [row for row in rows if row[1] in tiny_model.meta.class_names]
    assert summary.labelled == len(labelled) == 12
    assert summary.top1_agrees == sum(1 for row in labelled if row[2] == row[1])


def test_listing_a_folder_without_images_or_no_folder_says_so(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(StudioError, match="no image files in it or its subfolders"):
        images_in_tree(tmp_path / "empty")
    with pytest.raises(StudioError, match="not a folder"):
        images_in_tree(tmp_path / "missing")


def test_entries_for_files_named_one_by_one_keep_the_path_as_given():
    assert image_entries([Path("a/b.png")]) == [ImageEntry(Path("a/b.png"), "a/b.png", "")]
