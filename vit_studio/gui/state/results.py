"""What the inference worker hands the explorer: a loaded model's summary (or a question about
it), an analysed image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vit_studio.engine.analysis import Analysis
from vit_studio.engine.crop import OriginalImage
from vit_studio.engine.model import HEADS_RECORDED, ViTArch

# The classes an analysis explains (class-specific maps): an int k for the top k, or these.
Classes = int | tuple[int, ...] | None


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
    heads_source: str = HEADS_RECORDED  # where the head count came from, see engine.model


@dataclass(frozen=True)
class HeadCountRequest:
    """A model that cannot load until the user says how many attention heads it has."""

    path: Path
    hidden_dim: int
    choices: tuple[int, ...]  # the counts that divide the width
    message: str

    def suggestion(self) -> int:
        """The count whose heads are closest to 64 wide, the size most ViTs use."""
        return min(self.choices, key=lambda n: abs(self.hidden_dim / n - 64))


@dataclass(frozen=True)
class ImageResult:
    """One analysed image, as the views receive it; `original` is the photo the model input was
    cut from, with where it was cut (None where only the model input is known)."""

    path: Path
    analysis: Analysis
    device: str
    decode_ms: float  # opening, resizing and normalising the file
    total_ms: float  # decode + analysis, as the worker measured it
    original: OriginalImage | None = None
