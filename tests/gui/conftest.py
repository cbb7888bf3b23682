"""Fixtures for tests of the explorer window and the fine-tune panel: isolated settings, tiny
model files, a window, a small folder of classes, a panel."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from tests.conftest import TINY_ARCH, random_model, write_image
from tests.test_cli_train import colour_folder
from vit_studio.engine.model import ViTArch, save_model
from vit_studio.gui.finetune.panel import FinetunePanel
from vit_studio.gui.main_window import MainWindow
from vit_studio.gui.settings import Settings

# More classes than the top 5, so some class has no cached gradients.
EIGHT_CLASS_ARCH = ViTArch(
    image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32,
    num_classes=8,
)
WAIT_MS = 20_000  # generous: colleagues' jobs share the CPUs; waits end as soon as signals come


def make_settings(path: Path) -> Settings:
    return Settings(QSettings(str(path), QSettings.Format.IniFormat))


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    return tmp_path / "settings.ini"


@pytest.fixture
def settings(settings_file: Path, tmp_path: Path) -> Settings:
    settings = make_settings(settings_file)
    settings.device = "cpu"  # the same on every machine; tests that want CUDA switch to it
    settings.finetune_runs_dir = tmp_path / "runs"
    return settings


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    return save_model(random_model(TINY_ARCH, name="tiny"), tmp_path / "tiny.safetensors")


@pytest.fixture
def eight_class_model_file(tmp_path: Path) -> Path:
    model = random_model(EIGHT_CLASS_ARCH, seed=1, name="eight")
    return save_model(model, tmp_path / "eight.safetensors")


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    """Three images in a folder of their own (with a file that is not an image)."""
    folder = tmp_path / "photos"
    paths = [write_image(folder / f"img{i}.png", size=(48, 40), seed=i) for i in range(3)]
    (folder / "notes.txt").write_text("not an image")
    return paths


def open_window(qtbot, settings: Settings) -> MainWindow:
    window = MainWindow(settings, num_threads=1)
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.fixture
def window(qtbot, settings):
    window = open_window(qtbot, settings)
    yield window
    window.close()
    assert window.shutdown(), "a worker thread did not stop"


@pytest.fixture
def loaded(qtbot, window, model_file, images):
    """A window showing the analysis of the first image by the tiny model."""
    with qtbot.waitSignal(window.analysisReady, timeout=WAIT_MS):
        window.load_model(model_file)
        window.open_image(images[0])
    return window


# --- fine-tuning ---------------------------------------------------------------------------------


@pytest.fixture
def class_folder(tmp_path: Path) -> Path:
    """colours/{blue,green,red}/*.png, 12 each, the class is the dominant channel; plus one
    broken file. With the default split: 10 training and 2 validation images per class."""
    return colour_folder(tmp_path / "colours")


@pytest.fixture
def base_model(tmp_path: Path) -> Path:
    return save_model(random_model(), tmp_path / "base.safetensors")


@pytest.fixture
def panel(qtbot, tmp_path: Path):
    panel = FinetunePanel(tmp_path / "runs", num_threads=1, device="cpu")
    qtbot.addWidget(panel)
    panel.resize(1100, 850)
    panel.show()
    yield panel
    assert panel.shutdown(), "the fine-tune thread did not stop"


@pytest.fixture
def ready(qtbot, panel: FinetunePanel, class_folder: Path, base_model: Path) -> FinetunePanel:
    """A panel with the colour folder scanned and the tiny random model as its base."""
    with qtbot.waitSignal(panel.readyChanged, timeout=WAIT_MS, check_params_cb=bool):
        panel.set_explorer_model(base_model, "tiny")
        panel.choose_folder(class_folder)
    return panel


def run_to_end(qtbot, panel: FinetunePanel, epochs: int | None = 3):
    """Start a run (of `epochs`, typed into the form as a user would, with early stopping off so
    that it runs them all) and wait for its end."""
    if epochs is not None:
        panel.form.set_value("epochs", epochs)
        panel.form.set_value("patience", 0)
    # The default run of the small colour folder is 60 epochs of every layer: give it longer.
    timeout = WAIT_MS if epochs is not None else 10 * WAIT_MS
    with qtbot.waitSignal(panel.runEnded, timeout=timeout) as ended:
        panel.start()
    return ended.args[0]
