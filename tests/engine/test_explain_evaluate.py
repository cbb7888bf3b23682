"""Faithfulness over image files: mean AUCs per method with bootstrap intervals and paired
comparisons with random, progress, cancelling, unreadable files."""

import numpy as np
import pytest
from PIL import Image

from tests.engine.one_patch_vit import LOOKED_AT, one_patch_vit
from vit_studio.engine.errors import Cancelled, StudioError
from vit_studio.engine.explain.evaluate import evaluate_faithfulness, summarise
from vit_studio.engine.explain.faithfulness import AUC_NAMES
from vit_studio.engine.explain.intervals import Comparison


def write_bright_patch_images(folder, count):
    """Noise with the patch the hand-built ViT looks at in full red."""
    rng = np.random.default_rng(0)
    paths = []
    row, col = divmod(LOOKED_AT, 4)
    for k in range(count):
        pixels = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
        pixels[row * 4 : row * 4 + 4, col * 4 : col * 4 + 4, 0] = 255
        path = folder / f"{k}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def test_a_map_that_finds_the_patch_scores_the_best_possible_perturbation_aucs(tmp_path):
    paths = write_bright_patch_images(tmp_path, 3)
    report = evaluate_faithfulness(one_patch_vit(), paths, ["raw_attention", "random"])
    assert report.images == 3
    assert report.methods["raw_attention"]["positive_auc"] == pytest.approx(5.0)
    assert report.methods["raw_attention"]["negative_auc"] == pytest.approx(90.0)
    document = report.as_json()
    assert set(document) == {
        "model", "images", "start_layer", "confidence", "resamples", "methods", "skipped"
    }  # fmt: skip
    attention = document["methods"]["raw_attention"]
    low, high = attention["positive_auc_ci"]
    assert low <= attention["positive_auc"] <= high
    assert attention["negative_auc_vs_random"]["verdict"] in ("better", "tie")
    assert "positive_auc_vs_random" not in document["methods"]["random"]


def per_image(values):
    """The same values for all four AUCs, `[images, 4]`."""
    return np.repeat(np.asarray(values, dtype=np.float64)[:, None], len(AUC_NAMES), axis=1)


def test_the_interval_of_a_mean_is_the_normal_theory_one_on_many_images():
    values = np.random.default_rng(1).normal(50.0, 10.0, size=4000)
    report = summarise("m", {"a": per_image(values)})
    low, high = report.intervals["a"]["positive_auc"]
    half_width = 1.96 * values.std() / np.sqrt(values.size)
    assert low == pytest.approx(values.mean() - half_width, abs=0.1 * half_width)
    assert high == pytest.approx(values.mean() + half_width, abs=0.1 * half_width)


def test_a_small_shift_on_every_image_is_real_when_paired_though_the_intervals_overlap():
    spread = np.random.default_rng(2).uniform(0.0, 90.0, size=200)
    report = summarise("m", {"random": per_image(spread), "map": per_image(spread - 1.0)})
    assert (
        report.intervals["map"]["positive_auc"][1] > report.intervals["random"]["positive_auc"][0]
    )
    versus = report.versus_random["map"]
    assert versus["positive_auc"].difference == pytest.approx(-1.0)
    assert versus["positive_auc"].verdict == "better"  # lower is better
    assert versus["negative_auc"].verdict == "worse"  # higher is better
    assert versus["deletion_auc"].verdict == "better"


def test_noise_around_random_is_a_tie():
    rng = np.random.default_rng(3)
    spread = rng.uniform(0.0, 90.0, size=200)
    noisy = spread + rng.normal(0.0, 5.0, size=200)
    noisy -= noisy.mean() - spread.mean()
    report = summarise("m", {"random": per_image(spread), "map": per_image(noisy)})
    assert {c.verdict for c in report.versus_random["map"].values()} == {"tie"}
    assert Comparison("insertion_auc", 0.1, (-0.2, 0.4)).verdict == "tie"


def test_progress_follows_the_images_and_cancel_stops_before_the_next(tmp_path):
    paths = write_bright_patch_images(tmp_path, 3)
    seen = []
    evaluate_faithfulness(one_patch_vit(), paths, ["random"], progress=lambda d, t: seen.append(d))
    assert seen == [1, 2, 3]
    with pytest.raises(Cancelled, match="stopped after 2 of 3 images"):
        evaluate_faithfulness(
            one_patch_vit(), paths, ["random"], cancel=lambda: len(seen) >= 5,
            progress=lambda d, t: seen.append(d),
        )  # fmt: skip


def test_unreadable_files_are_skipped_and_none_readable_is_an_error(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    paths = write_bright_patch_images(tmp_path, 1)
    report = evaluate_faithfulness(one_patch_vit(), [broken, *paths], ["random"])
    assert report.images == 1 and [s.path for s in report.skipped] == [broken]
    with pytest.raises(StudioError, match="none of the 1 images could be read"):
        evaluate_faithfulness(one_patch_vit(), [broken], ["random"])
