"""The Trust tab's requests to the inference worker, and its answers back: scoring runs where
the model lives, on the image the explorer shows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vit_studio.gui.workers.inference import TRUST, InferenceClient

if TYPE_CHECKING:  # the view draws with matplotlib, the scores come with torch: not at start-up
    from vit_studio.engine.explain.evaluate import FaithfulnessReport, ImageScores
    from vit_studio.gui.widgets.trust_view import TrustView

CANCELLED_TEXT = "Cancelled; Score the Maps starts again."
FOLDER_NEEDED = "Open a folder of images (File ▸ Open Folder…) to score a folder."


def connect_trust(
    view: TrustView,
    inference: InferenceClient,
    image: Callable[[], Path | None],
    folder: Callable[[], list[Path]] = list,
) -> None:
    """Score `image()`, or every image of `folder()`, when the view asks; show the progress,
    scores, failure or cancel."""

    def score() -> None:
        path = image()
        if path is not None:
            view.started()
            inference.score_maps(path, view.start_layer)

    def score_folder() -> None:
        paths = folder()
        if len(paths) < 2:
            view.stopped(FOLDER_NEEDED)
            return
        view.started("images")
        inference.score_folder(paths, view.start_layer)

    def cancel() -> None:
        inference.cancel_scoring()
        view.stopped(CANCELLED_TEXT)

    def ready(path: Path, scores: ImageScores) -> None:
        if path == image():  # another image opened meanwhile: these scores are not of it
            view.show_scores(scores)

    def folder_ready(paths: list[Path], report: FaithfulnessReport) -> None:
        if paths == folder():
            view.show_folder_scores(report, str(Path(paths[0]).parent))

    view.scoreRequested.connect(score)
    view.scoreFolderRequested.connect(score_folder)
    view.cancelRequested.connect(cancel)
    inference.scoringProgress.connect(view.show_progress)
    inference.scoresReady.connect(ready)
    inference.folderScoresReady.connect(folder_ready)
    inference.modelReady.connect(lambda _summary: view.clear_folder())
    inference.failed.connect(lambda kind, message: kind == TRUST and view.stopped(message))
