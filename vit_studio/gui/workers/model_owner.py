"""The explorer's model in the inference thread: loaded, moved between devices, and run.

Imported by that thread when its first job runs, never by the GUI thread: this is where torch and
the engine's model code come in, while the window is already on screen (`InferenceClient` is the
GUI's side). Everything here runs in the inference thread only.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from vit_studio.engine.analysis import analyze
from vit_studio.engine.checkpoints import HeadCountNeeded, load_model
from vit_studio.engine.crop import OriginalImage, original_image
from vit_studio.engine.device import device_label, resolve_device
from vit_studio.engine.errors import StudioError
from vit_studio.engine.images import PreparedImage, open_image, prepare_image
from vit_studio.engine.model import StudioModel
from vit_studio.gui.state.results import Classes, HeadCountRequest, ImageResult, ModelSummary
from vit_studio.gui.workers.thread import JobContext

if TYPE_CHECKING:
    from vit_studio.engine.explain.evaluate import FaithfulnessReport, ImageScores


class ModelOwner:
    """The interactive model and the last prepared input (with the photo it was cut from);
    touched only in the worker thread."""

    def __init__(self, num_threads: int) -> None:
        self.num_threads = num_threads
        self.model: StudioModel | None = None
        self.path: Path | None = None
        self._prepared_key: tuple | None = None
        self._prepared: PreparedImage | None = None
        self._original: OriginalImage | None = None

    def load(
        self, path: Path, device: str, reload: bool, num_heads: int | None
    ) -> ModelSummary | HeadCountRequest:
        """Load `path` onto `device`, or only move the model already loaded from it; a
        `HeadCountRequest` when the file does not say how many heads it has."""
        target = resolve_device(device)
        if reload or self.model is None or path != self.path:
            try:
                model = load_model(path, num_heads=num_heads)
            except HeadCountNeeded as needed:
                return HeadCountRequest(path, needed.hidden_dim, needed.choices, str(needed))
            # A new model that does not fit is dropped; the one we had stays in use.
            _move(model, target, fallback=torch.device("cpu"))
        else:
            model = self.model
            _move(model, target, fallback=model.device)
        self.model, self.path = model, path
        return ModelSummary(
            path=path,
            name=model.meta.name,
            arch=model.arch,
            class_names=model.meta.class_names,
            num_parameters=model.num_parameters(),
            resize_size=model.meta.preprocessing.resize_size,
            device=str(model.device),
            device_label=device_label(model.device, self.num_threads),
            heads_source=model.meta.heads_source,
        )

    def analyze(
        self, path: Path, gradient_classes: Classes, attnlrp_classes: Classes = None
    ) -> ImageResult:
        if self.model is None:
            raise StudioError("no model is loaded yet; open one with Model ▸ Open Model…")
        started = time.perf_counter()
        prepared = self._prepare(path)
        decoded = time.perf_counter()
        analysis = analyze(
            self.model, prepared, gradient_classes=gradient_classes,
            attnlrp_classes=attnlrp_classes,
        )  # fmt: skip
        finished = time.perf_counter()
        return ImageResult(
            path=path,
            analysis=analysis,
            device=str(self.model.device),
            decode_ms=(decoded - started) * 1000.0,
            total_ms=(finished - started) * 1000.0,
            original=self._original,
        )

    def score_maps(
        self, path: Path, start_layer: int, context: JobContext, progress
    ) -> ImageScores:
        if self.model is None:
            raise StudioError("no model is loaded yet; open one with Model ▸ Open Model…")
        # The scores and the ablation are asked for later, if ever: not before the first map.
        from vit_studio.engine.explain.evaluate import score_image

        prepared = self._prepare(path)
        return score_image(
            self.model,
            prepared.tensor,
            start_layer=min(start_layer, self.model.arch.num_layers - 1),
            progress=lambda done, total: context.report(progress, done, total),
            cancel=context.cancelled,
        )

    def score_folder(
        self, paths: list[Path], start_layer: int, context: JobContext, progress
    ) -> FaithfulnessReport:
        if self.model is None:
            raise StudioError("no model is loaded yet; open one with Model ▸ Open Model…")
        from vit_studio.engine.explain.evaluate import evaluate_faithfulness

        return evaluate_faithfulness(
            self.model,
            paths,
            start_layer=min(start_layer, self.model.arch.num_layers - 1),
            progress=lambda done, total: context.report(progress, done, total),
            cancel=context.cancelled,
        )

    def ablate(self, path: Path, heads: tuple[tuple[int, int], ...]) -> np.ndarray:
        if self.model is None:
            raise StudioError("no model is loaded yet; open one with Model ▸ Open Model…")
        from vit_studio.engine.explain.ablation import ablated_probs

        return ablated_probs(self.model, self._prepare(path).tensor, heads)

    def _prepare(self, path: Path) -> PreparedImage:
        """The model input for `path` (and `_original`, the photo it was cut from), reused
        while file, preprocessing and patch grid are unchanged.

        Asking for another class's gradients re-analyses the same image; decoding a large
        photo again would cost more than the gradients.
        """
        assert self.model is not None
        try:
            info = path.stat()
            key = (path, info.st_mtime_ns, info.st_size, self.model.meta.preprocessing,
                   self.model.arch.grid_size)  # fmt: skip
        except OSError:
            key = None  # open_image reports the problem with the file
        if key is None or key != self._prepared_key or self._prepared is None:
            image = open_image(path)
            pre = self.model.meta.preprocessing
            self._prepared = prepare_image(image, pre)
            self._original = original_image(image, pre, self.model.arch.grid_size)
            self._prepared_key = key
        return self._prepared


def _move(model: StudioModel, target: torch.device, fallback: torch.device) -> None:
    try:
        model.to(target)
    except torch.cuda.OutOfMemoryError:
        model.to(fallback)
        raise
