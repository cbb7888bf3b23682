"""The explorer's model, in a thread of its own: load it, move it between devices, analyse images,
and look for other models on this computer.

`InferenceClient` is the GUI's handle. Its thread owns the one interactive model (`_ModelOwner`);
the GUI gets plain results back (`state.results`: `ModelSummary`, `ImageResult`). A new model
supersedes every analysis in flight (those results would come from the previous model).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QObject, Signal

from vit_studio.engine.analysis import analyze
from vit_studio.engine.checkpoints import HeadCountNeeded, load_model
from vit_studio.engine.checkpoints.discovery import find_local_models
from vit_studio.engine.crop import OriginalImage, original_image
from vit_studio.engine.device import available_devices, device_label, resolve_device
from vit_studio.engine.errors import StudioError
from vit_studio.engine.explain.ablation import ablated_probs
from vit_studio.engine.explain.evaluate import (
    FaithfulnessReport,
    ImageScores,
    evaluate_faithfulness,
    score_image,
)
from vit_studio.engine.images import PreparedImage, open_image, prepare_image
from vit_studio.engine.model import StudioModel
from vit_studio.gui.cpu import default_num_threads, torch_setup
from vit_studio.gui.state.results import HeadCountRequest, ImageResult, ModelSummary
from vit_studio.gui.workers.thread import JobContext, WorkerThread

Classes = int | tuple[int, ...] | None  # an int k: the top k classes

# Kinds of job: the newest of each kind wins.
MODEL = "model"
ANALYSIS = "analysis"
TRUST = "trust"  # the faithfulness scores of every attribution map of the image
ABLATION = "ablation"  # the prediction with some heads knocked out
LOCAL_MODELS = "local models"
DEVICES = "devices"


class _ModelOwner:
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


class InferenceClient(QObject):
    """The GUI's handle on the inference thread; results come only for current requests."""

    modelReady = Signal(ModelSummary)
    scoresReady = Signal(Path, ImageScores)  # the image, every map's faithfulness curves
    folderScoresReady = Signal(list, FaithfulnessReport)  # the images, their faithfulness
    scoringProgress = Signal(int, int)  # methods (or a folder's images) scored, in all
    ablationReady = Signal(Path, tuple, object)  # image, knocked-out heads, probabilities [C]
    headCountNeeded = Signal(HeadCountRequest)  # the load waits for the user's answer
    analysisReady = Signal(ImageResult)
    localModelsFound = Signal(object)  # list[LocalModel]
    devicesFound = Signal(object)  # list[str], see engine.device.available_devices
    failed = Signal(str, str)  # job kind (MODEL, ANALYSIS, LOCAL_MODELS), one-line message
    busyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None, num_threads: int | None = None) -> None:
        super().__init__(parent)
        threads = num_threads or default_num_threads()
        self._thread = WorkerThread("inference", self, setup=torch_setup(threads))
        self._thread.busyChanged.connect(self.busyChanged)
        self._owner = _ModelOwner(threads)
        self._model_path: Path | None = None
        self._model_heads: int | None = None
        self._thread.submit(
            DEVICES, lambda _job: available_devices(), doing="looking for devices",
            done=self.devicesFound.emit,
        )  # fmt: skip

    @property
    def busy(self) -> bool:
        return self._thread.busy

    def load_model(self, path: Path, device: str, num_heads: int | None = None) -> None:
        """Load `path` onto `device` (`num_heads`: the user's count, for files that do not
        record it); supersedes earlier loads and every analysis in flight."""
        self._model_path, self._model_heads = path, num_heads
        self._load(path, device, reload=True)
        # What was computed with the previous model is stale.
        self._thread.cancel(ANALYSIS, TRUST, ABLATION)

    def set_device(self, device: str) -> bool:
        """Move the current model; False if none was asked for yet."""
        if self._model_path is None:
            return False
        # A load still in flight is superseded by this request, so it must load, not just move.
        self._load(self._model_path, device, reload=self._thread.pending(MODEL))
        return True

    def analyze(
        self, path: Path, gradient_classes: Classes = None, attnlrp_classes: Classes = None
    ) -> None:
        """Analyse `path`, with class gradients and AttnLRP maps for these classes (an int k:
        the top k; see `engine.analysis.analyze`)."""
        owner = self._owner
        self._thread.submit(
            ANALYSIS,
            lambda _job: owner.analyze(path, gradient_classes, attnlrp_classes),
            doing=f"analysing {path.name}",
            done=self.analysisReady.emit,
            failed=lambda message: self.failed.emit(ANALYSIS, message),
        )

    def score_folder(self, paths: list[Path], start_layer: int = 0) -> None:
        """Score every attribution map of every image in `paths`: means and intervals."""
        owner = self._owner
        self._thread.submit(
            TRUST,
            lambda context: owner.score_folder(
                paths, start_layer, context, self.scoringProgress.emit
            ),
            doing=f"scoring the maps of {len(paths)} images",
            done=lambda report: self.folderScoresReady.emit(paths, report),
            failed=lambda message: self.failed.emit(TRUST, message),
        )

    def score_maps(self, path: Path, start_layer: int = 0) -> None:
        """Score every attribution map of `path` by perturbation (seconds to a minute)."""
        owner = self._owner
        self._thread.submit(
            TRUST,
            lambda context: owner.score_maps(
                path, start_layer, context, self.scoringProgress.emit
            ),
            doing=f"scoring the maps of {path.name}",
            done=lambda scores: self.scoresReady.emit(path, scores),
            failed=lambda message: self.failed.emit(TRUST, message),
        )

    def ablate(self, path: Path, heads: tuple[tuple[int, int], ...]) -> None:
        """The prediction of `path` with `heads` ((layer, head), 0-based) knocked out."""
        owner = self._owner
        self._thread.submit(
            ABLATION,
            lambda _context: owner.ablate(path, heads),
            doing=f"knocking out heads on {path.name}",
            done=lambda probs: self.ablationReady.emit(path, heads, probs),
            failed=lambda message: self.failed.emit(ABLATION, message),
        )

    def cancel_scoring(self) -> None:
        self._thread.cancel(TRUST)

    def scan_local_models(self) -> None:
        self._thread.submit(
            LOCAL_MODELS,
            lambda _job: find_local_models(),
            doing="looking for models on this computer",
            done=self.localModelsFound.emit,
            failed=lambda message: self.failed.emit(LOCAL_MODELS, message),
        )

    def _loaded(self, result: ModelSummary | HeadCountRequest) -> None:
        if isinstance(result, HeadCountRequest):
            self.headCountNeeded.emit(result)
        else:
            self.modelReady.emit(result)

    def stop(self, timeout_ms: int = 5000) -> bool:
        return self._thread.stop(timeout_ms)

    def _load(self, path: Path, device: str, reload: bool) -> None:
        owner, heads = self._owner, self._model_heads
        self._thread.submit(
            MODEL,
            lambda _job: owner.load(path, device, reload, heads),
            doing=f"loading {path.name}" if reload else f"moving {path.name} to {device}",
            done=self._loaded,
            failed=lambda message: self.failed.emit(MODEL, message),
        )
