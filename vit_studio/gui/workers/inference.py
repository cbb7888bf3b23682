"""The explorer's model, in a thread of its own: load it, move it between devices, analyse images,
and look for other models on this computer.

`InferenceClient` is the GUI's handle. Its thread owns the one interactive model
(`model_owner.ModelOwner`, imported there with torch and the engine's model code, so the window is
shown without waiting for them); the GUI gets plain results back (`state.results`: `ModelSummary`,
`ImageResult`). A new model supersedes every analysis in flight (those results would come from the
previous model).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from vit_studio.gui.cpu import default_num_threads, torch_setup
from vit_studio.gui.state.results import Classes, HeadCountRequest, ImageResult, ModelSummary
from vit_studio.gui.workers.thread import WorkerThread

if TYPE_CHECKING:
    from vit_studio.gui.workers.model_owner import ModelOwner

# Kinds of job: the newest of each kind wins.
MODEL = "model"
ANALYSIS = "analysis"
TRUST = "trust"  # the faithfulness scores of every attribution map of the image
ABLATION = "ablation"  # the prediction with some heads knocked out
LOCAL_MODELS = "local models"
DEVICES = "devices"


class _OwnerInThread:
    """The thread's `ModelOwner`, made by the first job that calls for it (in the thread)."""

    def __init__(self, num_threads: int) -> None:
        self._num_threads = num_threads
        self._owner: ModelOwner | None = None

    def __call__(self) -> ModelOwner:
        if self._owner is None:
            from vit_studio.gui.workers.model_owner import ModelOwner

            self._owner = ModelOwner(self._num_threads)
        return self._owner


def _available_devices() -> list[str]:
    from vit_studio.engine.device import available_devices

    return available_devices()


def _find_local_models() -> list:
    from vit_studio.engine.checkpoints.discovery import find_local_models

    return find_local_models()


class InferenceClient(QObject):
    """The GUI's handle on the inference thread; results come only for current requests."""

    modelReady = Signal(ModelSummary)
    scoresReady = Signal(Path, object)  # the image, every map's faithfulness curves (ImageScores)
    folderScoresReady = Signal(list, object)  # the images, their faithfulness (FaithfulnessReport)
    scoringProgress = Signal(int, int)  # methods (or a folder's images) scored, in all
    ablationReady = Signal(Path, tuple, object)  # image, knocked-out heads, probabilities [C]
    headCountNeeded = Signal(HeadCountRequest)  # the load waits for the user's answer
    analysisReady = Signal(ImageResult)
    localModelsFound = Signal(object)  # list[LocalModel]
    devicesFound = Signal(object)  # list[str], see engine.device.available_devices
    failed = Signal(str, str)  # job kind (MODEL, ANALYSIS, LOCAL_MODELS), one-line message
    busyChanged = Signal(bool)

    def __init__(
        self, parent: QObject | None = None, num_threads: int | None = None, *,
        held: bool = False,
    ) -> None:  # fmt: skip
        """`held`: the thread (and its import of torch) waits for `release`, e.g. until the
        window has been painted."""
        super().__init__(parent)
        threads = num_threads or default_num_threads()
        self._thread = WorkerThread("inference", self, setup=torch_setup(threads), held=held)
        self._thread.busyChanged.connect(self.busyChanged)
        self._owner = _OwnerInThread(threads)
        self._model_path: Path | None = None
        self._model_heads: int | None = None
        self._thread.submit(
            DEVICES, lambda _job: _available_devices(), doing="looking for devices",
            done=self.devicesFound.emit,
        )  # fmt: skip

    @property
    def busy(self) -> bool:
        return self._thread.busy

    def release(self) -> None:
        """Start a `held` thread: the requests made meanwhile run in order."""
        self._thread.release()

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
            lambda _job: owner().analyze(path, gradient_classes, attnlrp_classes),
            doing=f"analysing {path.name}",
            done=self.analysisReady.emit,
            failed=lambda message: self.failed.emit(ANALYSIS, message),
        )

    def score_folder(self, paths: list[Path], start_layer: int = 0) -> None:
        """Score every attribution map of every image in `paths`: means and intervals."""
        owner = self._owner
        self._thread.submit(
            TRUST,
            lambda context: owner().score_folder(
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
            lambda context: owner().score_maps(
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
            lambda _context: owner().ablate(path, heads),
            doing=f"knocking out heads on {path.name}",
            done=lambda probs: self.ablationReady.emit(path, heads, probs),
            failed=lambda message: self.failed.emit(ABLATION, message),
        )

    def cancel_scoring(self) -> None:
        self._thread.cancel(TRUST)

    def scan_local_models(self) -> None:
        self._thread.submit(
            LOCAL_MODELS,
            lambda _job: _find_local_models(),
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
            lambda _job: owner().load(path, device, reload, heads),
            doing=f"loading {path.name}" if reload else f"moving {path.name} to {device}",
            done=self._loaded,
            failed=lambda message: self.failed.emit(MODEL, message),
        )
