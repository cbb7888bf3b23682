"""The Trust tab's requests to the inference worker, and its answers back: scoring runs where
the model lives, on the image the explorer shows."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vit_studio.gui.workers.inference import TRUST, InferenceClient

if TYPE_CHECKING:  # the view draws with matplotlib, the scores come with torch: not at start-up
    from vit_studio.engine.explain.evaluate import ImageScores
    from vit_studio.gui.widgets.trust_view import TrustView

CANCELLED_TEXT = "Cancelled; Score the Maps starts again."


def connect_trust(
    view: TrustView, inference: InferenceClient, image: Callable[[], Path | None]
) -> None:
    """Score `image()` when the view asks; show its progress, scores, failure or cancel."""

    def score() -> None:
        path = image()
        if path is not None:
            view.started()
            inference.score_maps(path)

    def cancel() -> None:
        inference.cancel_scoring()
        view.stopped(CANCELLED_TEXT)

    def ready(path: Path, scores: ImageScores) -> None:
        if path == image():  # another image opened meanwhile: these scores are not of it
            view.show_scores(scores)

    view.scoreRequested.connect(score)
    view.cancelRequested.connect(cancel)
    inference.scoringProgress.connect(view.show_progress)
    inference.scoresReady.connect(ready)
    inference.failed.connect(lambda kind, message: kind == TRUST and view.stopped(message))
