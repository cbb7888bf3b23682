"""Every file ViT Studio writes survives a power cut: its data is flushed to the disk before it
takes its name, and its folder after, so a "saved" file is never found empty or half there."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import write_image
from tests.durability import SyncLog
from tests.hub_server import COMMIT, hub_entry, serve_fake_hub, torchvision_entry
from tests.test_cli_train import FAST, SMALL, colour_folder
from vit_studio.cli import main
from vit_studio.engine.analysis import analyze
from vit_studio.engine.data import cache_images, scan_folder
from vit_studio.engine.data.location import cache_dir
from vit_studio.engine.export import write_npz
from vit_studio.engine.fileio import append_line, write_text_atomic
from vit_studio.engine.hub import download
from vit_studio.engine.images import open_image, prepare_image
from vit_studio.engine.model import save_model
from vit_studio.engine.predictions_csv import image_entries, write_predictions_csv


@pytest.fixture
def log(monkeypatch) -> SyncLog:
    return SyncLog(monkeypatch)


def test_a_saved_model_is_flushed_before_its_rename_and_its_folder_after(
    log, tiny_model, tmp_path
):
    path = save_model(tiny_model, tmp_path / "m.safetensors")
    assert log.replaced_durably(path)


def test_a_negative_control_a_file_renamed_without_flushing_is_told_apart(log, tmp_path):
    # What every writer did before: write aside, rename, nothing flushed.
    aside = tmp_path / "aside"
    aside.write_text("data")
    target = tmp_path / "target"
    os.replace(aside, target)
    assert not log.replaced_durably(target) and not log.flushed(target)


def test_json_exports_and_appended_metrics_lines_reach_the_disk(log, tmp_path):
    exported = tmp_path / "analysis.json"
    write_text_atomic(exported, json.dumps({"a": 1}), "the analysis JSON")
    assert log.replaced_durably(exported)
    metrics = tmp_path / "m.metrics.jsonl"
    metrics.write_text("")
    append_line(metrics, json.dumps({"epoch": 1}), "the metrics")
    assert log.flushed(metrics)


def test_npz_and_predictions_csv_exports_reach_the_disk(log, tiny_model, tmp_path):
    photo = write_image(tmp_path / "in" / "a.png")
    analysis = analyze(tiny_model, prepare_image(open_image(photo), tiny_model.meta.preprocessing))
    npz = tmp_path / "out" / "a.npz"
    write_npz(npz, analysis)
    assert log.replaced_durably(npz)
    csv = tmp_path / "out" / "predictions.csv"
    write_predictions_csv(csv, tiny_model, image_entries([photo]))
    assert log.replaced_durably(csv)


def test_the_image_cache_array_is_on_disk_before_the_index_names_it(log, tmp_path):
    root = tmp_path / "photos"
    for name in ("ant", "bee"):
        for k in range(3):
            write_image(root / name / f"{k}.png", seed=k)
    items = list(scan_folder(root, val_share=0.0).train)
    cached = cache_images(items, 16, root=root)
    (index,) = cache_dir("images").glob(f"{cached.cache.file.name.rsplit('-', 1)[0]}.json")
    assert log.flushed_before_renamed(cached.cache.file, index)
    assert log.replaced_durably(index)
    (record,) = (p for p in cache_dir("checked").glob("*.json") if str(root) in p.read_text())
    assert log.replaced_durably(record)


def test_a_training_run_flushes_its_model_checkpoint_and_every_metrics_line(log, tmp_path):
    folder = colour_folder(tmp_path / "colours")
    out = tmp_path / "m.safetensors"
    assert main(["train", str(folder), *SMALL, *FAST, "--epochs", "2", "--out", str(out)]) == 0
    assert log.replaced_durably(out)
    assert log.replaced_durably(tmp_path / "m.checkpoint.pt")
    assert log.replaced_durably(tmp_path / "m.metrics.jsonl")  # its first line
    assert log.flushed(tmp_path / "m.metrics.jsonl")  # the second, appended


@pytest.fixture
def hub(tmp_path, monkeypatch):
    yield from serve_fake_hub(tmp_path, monkeypatch)


def test_downloads_are_flushed_before_they_take_their_names(log, hub, tmp_path):
    ((file, content),) = hub.torchvision_files.items()
    checkpoint = download(torchvision_entry(file, content))
    assert log.replaced_durably(checkpoint)
    snapshot = download(hub_entry("fake/vit-tiny"))
    repo = snapshot.parents[1]
    assert log.replaced_durably((snapshot / "model.safetensors").resolve())  # the blob
    assert log.replaced_durably(repo / "refs" / "main")
    assert log.flushed(snapshot) and (repo / "refs" / "main").read_text() == COMMIT
