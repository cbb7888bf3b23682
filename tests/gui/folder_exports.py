"""Helpers of the folder-export tests: many images, and decoding held back until told."""

from __future__ import annotations

import shutil
import threading

from tests.gui.conftest import WAIT_MS
from vit_studio.engine import batch


def gate_decoding_after(monkeypatch, first: list) -> threading.Event:
    """Files other than `first` wait to be decoded until the returned event is set."""
    gate = threading.Event()
    real_open = batch.open_image

    def open_image(path):
        if path not in first:
            assert gate.wait(WAIT_MS / 1000)
        return real_open(path)

    monkeypatch.setattr(batch, "open_image", open_image)
    return gate


def many(images: list, count: int) -> list:
    copies = [images[0].parent / f"copy{k:03d}.png" for k in range(count - len(images))]
    for copy in copies:
        shutil.copy(images[0], copy)
    return [*images, *copies]
