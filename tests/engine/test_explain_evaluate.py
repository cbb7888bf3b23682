"""Faithfulness over image files: mean AUCs per method, progress, cancelling, unreadable files."""

import numpy as np
import pytest
from PIL import Image

from tests.engine.one_patch_vit import LOOKED_AT, one_patch_vit
from vit_studio.engine.errors import Cancelled, StudioError
from vit_studio.engine.explain.evaluate import evaluate_faithfulness


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
    assert set(report.as_json()) == {"model", "images", "methods", "skipped"}


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
