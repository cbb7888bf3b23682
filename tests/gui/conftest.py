"""Fixtures for tests of the explorer window: isolated settings, tiny model files, a window."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from tests.conftest import TINY_ARCH, random_model, write_image
from vit_studio.engine.model import ViTArch, save_model
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
def settings(settings_file: Path) -> Settings:
    settings = make_settings(settings_file)
    settings.device = "cpu"  # the same on every machine; tests that want CUDA switch to it
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
