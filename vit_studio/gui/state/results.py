"""What the inference worker hands the explorer: a loaded model's summary, an analysed image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vit_studio.engine.analysis import Analysis
from vit_studio.engine.model import ViTArch


@dataclass(frozen=True)
class ModelSummary:
    """What the GUI shows about the loaded model."""

    path: Path
    name: str
    arch: ViTArch
    class_names: tuple[str, ...]
    num_parameters: int
    resize_size: int
    device: str  # torch's name, e.g. "cpu", "cuda:0"
    device_label: str  # for people, e.g. "CPU (3 threads)", "CUDA: NVIDIA H100 80GB HBM3"


@dataclass(frozen=True)
class ImageResult:
    """One analysed image, as the views receive it."""

    path: Path
    analysis: Analysis
    device: str
    decode_ms: float  # opening, resizing and normalising the file
    total_ms: float  # decode + analysis, as the worker measured it
