"""What a run tells people when it ends: the images with the largest loss (computed longhand
here), and the --report page: controls, classes, confusion, thumbnails, never over their files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_image
from vit_studio.engine.errors import StudioError
from vit_studio.engine.training import EvalResult, RunStatus, TrainResult
from vit_studio.engine.training.evaluation import top_losses
from vit_studio.engine.training.report import REPORT_MARKER, RunReport, write_report
from vit_studio.engine.training.start import StartingPoint

PROBABILITIES = np.array(
    [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.05, 0.95], [0.5, 0.5]], dtype=np.float32
)
LABELS = np.array([0, 0, 0, 1, 1])


def test_the_largest_losses_come_first_with_what_the_model_said():
    # -log p(true class): 0.105, 1.609, 0.511, 0.051, 0.693
    losses = top_losses(PROBABILITIES, LABELS, 3)
    assert [loss.index for loss in losses] == [1, 4, 2]
    first = losses[0]
    assert first.loss == pytest.approx(-math.log(0.2), rel=1e-6)
    assert (first.true_class, first.predicted, first.wrong) == (0, 1, True)
    assert first.probability == pytest.approx(0.8) and first.true_probability == pytest.approx(0.2)
    assert not losses[2].wrong  # right, but unsure: it still ranks by its loss
    assert len(top_losses(PROBABILITIES, LABELS, 10)) == 5


def result() -> TrainResult:
    start = StartingPoint(base_acc=0.7, probe_acc=0.6, chosen="base")
    return TrainResult(RunStatus.EARLY_STOPPED, 8, 0.8, 5, (), None, 65.0, start)


def evaluation(tmp_path: Path) -> EvalResult:
    paths = tuple(write_image(tmp_path / "photos" / f"{k}.png", seed=k) for k in range(5))
    return EvalResult(("cat", "dog"), LABELS, PROBABILITIES, 0.5, paths)


def test_the_report_page_gives_the_controls_classes_confusion_and_largest_losses(tmp_path):
    page = write_report(tmp_path / "report", RunReport(
        title="vit-studio finetune pets", result=result(), validation=evaluation(tmp_path),
        settings=["settings: 8 epochs", "  flip: auto: never mirrored"], pixel_baseline=0.55,
    ))  # fmt: skip
    text = page.read_text(encoding="utf-8")
    assert "stopped early: validation had stopped improving after 8 epochs" in text
    for row in ("the fine-tuned model (kept)</td><td>80.0%",
                "the base model alone, its own head for these classes</td><td>70.0%",
                "logistic regression on the raw 32 × 32 pixels</td><td>55.0%",
                "<td>cat</td><td>3</td><td>2</td><td>67%</td>",  # 2 of 3 cats right
                "<td>cat (true)</td><td>2</td><td>1</td>"):  # fmt: skip
        assert row in text, row
    assert "flip: auto: never mirrored" in text
    order = [text.index(f"<small>{k}.png</small>") for k in (1, 4, 2, 0, 3)]
    assert order == sorted(order)  # largest loss first
    assert sorted(p.name for p in (page.parent / "images").iterdir())[:2] == ["001.png", "002.png"]


def test_a_folder_of_the_users_own_files_is_refused_and_an_earlier_report_is_replaced(tmp_path):
    mine = tmp_path / "mine"
    write_image(mine / "holiday.png")
    with pytest.raises(StudioError, match="not a ViT Studio report; give --report a new or empty"):
        write_report(mine, RunReport("t", result(), None, (), None))
    assert [p.name for p in mine.iterdir()] == ["holiday.png"]
    again = tmp_path / "report"
    write_report(again, RunReport("first", result(), None, (), None))
    write_report(again, RunReport("second", result(), None, (), None))
    assert (again / REPORT_MARKER).is_file() and "second" in (again / "index.html").read_text()
