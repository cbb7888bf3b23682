"""`vit-studio [IMAGE] --model M --screenshot OUT.png`: a picture of the window showing what was
asked for, one line saying what it shows, then exit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtGui import QImage

from tests.conftest import uncounted_heads_checkpoint, write_image
from vit_studio.gui.screenshot import SIZE


def run_app(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vit_studio", *args], capture_output=True, text=True, timeout=300
    )


def assert_a_picture_of_the_window(path) -> None:
    picture = QImage(str(path))
    # At least the requested size: a machine without fonts draws wider boxes for letters.
    assert picture.width() >= SIZE[0] and picture.height() >= SIZE[1]
    pixels = np.frombuffer(picture.convertToFormat(QImage.Format.Format_Grayscale8).constBits(),
                           np.uint8)  # fmt: skip
    assert pixels.std() > 10  # drawn, not a blank surface


@pytest.mark.slow
def test_screenshot_of_a_view_once_the_analysis_is_shown(model_file, images, tmp_path):
    out = tmp_path / "window.png"
    done = run_app(str(images[0]), "--model", str(model_file), "--view", "attention",
                   "--screenshot", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{out}: attention of {images[0].name} by tiny: class ")
    assert_a_picture_of_the_window(out)


@pytest.mark.slow
def test_screenshot_of_a_split_with_another_model_in_the_second_pane(
    model_file, eight_class_model_file, images, tmp_path
):
    out = tmp_path / "split.png"
    done = run_app(str(images[0]), "--model", str(model_file), "--compare-model",
                   str(eight_class_model_file), "--screenshot", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert_a_picture_of_the_window(out)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a model")
    failed = run_app(str(images[0]), "--model", str(model_file), "--compare-model", str(broken),
                     "--screenshot", str(tmp_path / "never.png"))  # fmt: skip
    assert failed.returncode == 2 and "broken.safetensors" in failed.stderr
    assert not (tmp_path / "never.png").exists()


@pytest.mark.slow
def test_screenshot_of_a_finished_fine_tune_of_a_folder(model_file, class_folder, tmp_path):
    out = tmp_path / "finetune.png"
    done = run_app(str(class_folder), "--model", str(model_file), "--device", "cpu",
                   "--view", "finetune", "--screenshot", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    # The default settings: the easy colour folder stops improving long before its 60 epochs.
    assert done.stdout.startswith(f"{out}: a fine-tune stopped early after ")
    assert_a_picture_of_the_window(out)


@pytest.mark.slow
def test_a_folder_that_cannot_train_is_pictured_as_its_report_and_exits_2(model_file, tmp_path):
    folder = tmp_path / "pets"
    write_image(folder / "cats" / "0.png")
    out = tmp_path / "blocked.png"
    done = run_app(str(folder), "--model", str(model_file), "--view", "finetune",
                   "--screenshot", str(out))  # fmt: skip
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("vit-studio:")]
    assert errors == [f"vit-studio: error: {folder} needs at least 2 class subfolders (found "
                      f"only 'cats'); put each class's images in its own subfolder, e.g. "
                      f"{folder / 'cats'}"]  # fmt: skip
    assert done.stdout == f"{out}: the scan report of {folder}, which cannot be trained on\n"
    assert_a_picture_of_the_window(out)


@pytest.mark.slow
def test_a_head_count_nobody_can_answer_is_the_error_and_num_heads_answers_it(images, tmp_path):
    model = uncounted_heads_checkpoint(tmp_path / "narrow.pth")
    out = tmp_path / "window.png"
    asked = run_app(str(images[0]), "--model", str(model), "--screenshot", str(out))
    assert asked.returncode == 2 and not out.exists()
    assert "does not record its number of attention heads" in asked.stderr
    assert "--num-heads N" in asked.stderr
    given = run_app(str(images[0]), "--model", str(model), "--num-heads", "4", "--screenshot",
                    str(out))  # fmt: skip
    assert given.returncode == 0, given.stderr
    assert_a_picture_of_the_window(out)


@pytest.mark.slow
def test_a_bad_image_exits_2_with_a_one_line_message(model_file, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    done = run_app(str(bad), "--model", str(model_file), "--screenshot",
                   str(tmp_path / "never.png"))  # fmt: skip
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("vit-studio:")]
    assert errors == [f"vit-studio: error: {bad}: not an image; save it as one of .jpg, .jpeg, "
                      ".png, .webp, .gif, .bmp, .tif, .tiff or move it out of the way"]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "never.png").exists()


def test_the_explorers_options_are_read_without_loading_qt():
    script = (
        "import sys\n"
        "from vit_studio.cli.explore import build_parser\n"
        "options = build_parser().parse_args(['photo.jpg', '--view', 'posembed'])\n"
        "print(options.view, options.device, sorted(m for m in sys.modules if "
        "m.startswith('PySide6')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=120)  # fmt: skip
    assert done.stdout.strip() == "posembed None []"


def test_an_unknown_view_is_refused_by_name_with_the_ones_there_are():
    done = run_app("photo.jpg", "--view", "heads")
    assert done.returncode == 2
    assert "invalid choice: 'heads'" in done.stderr and "'posembed'" in done.stderr
