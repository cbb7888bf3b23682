"""`vit-studio [IMAGE] --model M --screenshot OUT.png`: a picture of the window, then exit."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PySide6.QtGui import QImage

from tests.conftest import write_image
from vit_studio.gui.app import SCREENSHOT_SIZE, build_parser


def run_app(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vit_studio.gui.app", *args],
        capture_output=True, text=True, timeout=300,
    )


@pytest.mark.slow
def test_screenshot_of_a_view_once_the_analysis_is_shown(model_file, images, tmp_path):
    out = tmp_path / "window.png"
    done = run_app(str(images[0]), "--model", str(model_file), "--view", "attention",
                   "--screenshot", str(out))
    assert done.returncode == 0, done.stderr
    picture = QImage(str(out))
    # At least the requested size: a machine without fonts draws wider boxes for letters.
    assert picture.width() >= SCREENSHOT_SIZE[0] and picture.height() >= SCREENSHOT_SIZE[1]


@pytest.mark.slow
def test_screenshot_of_a_finished_fine_tune_of_a_folder(model_file, class_folder, tmp_path):
    out = tmp_path / "finetune.png"
    done = run_app(str(class_folder), "--model", str(model_file), "--device", "cpu",
                   "--view", "finetune", "--screenshot", str(out))
    assert done.returncode == 0, done.stderr
    picture = QImage(str(out))
    assert picture.width() >= SCREENSHOT_SIZE[0] and picture.height() >= SCREENSHOT_SIZE[1]


@pytest.mark.slow
def test_a_folder_that_cannot_train_is_pictured_as_its_report_and_exits_2(model_file, tmp_path):
    folder = tmp_path / "pets"
    write_image(folder / "cats" / "0.png")
    out = tmp_path / "blocked.png"
    done = run_app(str(folder), "--model", str(model_file), "--view", "finetune",
                   "--screenshot", str(out))
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("vit-studio:")]
    assert errors == [f"vit-studio: error: {folder} needs at least 2 class subfolders (found "
                      f"only 'cats'); put each class's images in its own subfolder, e.g. "
                      f"{folder / 'cats'}"]
    assert QImage(str(out)).width() >= SCREENSHOT_SIZE[0]


@pytest.mark.slow
def test_a_bad_image_exits_2_with_a_one_line_message(model_file, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    done = run_app(str(bad), "--model", str(model_file), "--screenshot",
                   str(tmp_path / "never.png"))
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("vit-studio:")]
    assert errors == [f"vit-studio: error: {bad}: not an image; save it as one of .jpg, .jpeg, "
                      ".png, .webp, .gif, .bmp, .tif, .tiff or move it out of the way"]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "never.png").exists()


def test_command_line_options():
    args = build_parser().parse_args(["photo.jpg", "--model", "m.safetensors", "--device", "cpu",
                                      "--screenshot", "out.png", "--view", "posembed"])
    assert (args.image, args.model, args.device, args.screenshot, args.view) == (
        "photo.jpg", "m.safetensors", "cpu", "out.png", "posembed")
    assert build_parser().parse_args(["folder", "--view", "finetune"]).view == "finetune"
    assert build_parser().parse_args([]).image is None
