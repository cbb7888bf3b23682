"""The GUI thread keeps ticking while ViT-B/16 loads and analyses in the worker."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
import torchvision
from PySide6.QtCore import QTimer

from tests.conftest import write_image
from vit_studio.engine.model import from_torchvision, save_model

MAX_STALL_MS = 100
WAIT_MS = 300_000  # a slow shared CPU; the wait ends as soon as the analysis is shown


@pytest.fixture(scope="module")
def vit_b16_file(tmp_path_factory):
    torch.manual_seed(0)
    module = torchvision.models.vit_b_16(weights=None)
    model = from_torchvision(module, "vit_b_16")
    return save_model(model, tmp_path_factory.mktemp("b16") / "b16.st")


class TickGaps:
    """Milliseconds between the ticks of a 10 ms timer on the GUI thread."""

    def __init__(self) -> None:
        self.ticks = [time.perf_counter()]
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))
        self.timer.start()

    def stop(self) -> float:
        self.timer.stop()
        self.ticks.append(time.perf_counter())
        return float(np.diff(self.ticks).max() * 1000.0)


@pytest.mark.slow
def test_no_gui_stall_over_100_ms_while_vit_b16_loads_and_analyses(qtbot, window, vit_b16_file,
                                                                     tmp_path):
    photo = write_image(tmp_path / "photo.jpg", size=(320, 240))
    gaps = TickGaps()
    with qtbot.waitSignal(window.modelReady, timeout=WAIT_MS):
        window.load_model(vit_b16_file)
    load_stall = gaps.stop()

    gaps = TickGaps()
    with qtbot.waitSignal(window.analysisReady, timeout=WAIT_MS):
        window.open_image(photo)
    analysis_stall = gaps.stop()

    assert window.result.analysis.attentions.shape == (12, 12, 197, 197)
    assert load_stall < MAX_STALL_MS, f"model load stalled the GUI for {load_stall:.0f} ms"
    assert analysis_stall < MAX_STALL_MS, f"analysis stalled the GUI for {analysis_stall:.0f} ms"
