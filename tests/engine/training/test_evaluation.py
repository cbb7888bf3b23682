"""Evaluation: accuracy, confusion, per-class results and preprocessing of cached images."""

import numpy as np
import pytest
import torch

from tests.conftest import random_model
from tests.engine.training.helpers import (
    colour_images,
    fresh,
)
from vit_studio.engine.data import CachedImages
from vit_studio.engine.training import (
    EvalResult,
    evaluate,
)


def test_evaluate_numbers_on_a_model_that_always_says_green():
    model = fresh()
    with torch.no_grad():
        model.module.heads.head.weight.zero_()
        model.module.heads.head.bias.copy_(torch.tensor([0.0, 2.0, 0.0]))
    data = colour_images(9)  # 3 images of each class
    result = evaluate(model, data, batch_size=4)
    assert result.accuracy == pytest.approx(1 / 3)
    np.testing.assert_array_equal(result.predictions, np.ones(9))
    np.testing.assert_array_equal(result.confusion, [[0, 3, 0], [0, 3, 0], [0, 3, 0]])
    np.testing.assert_allclose(result.per_class_accuracy, [0.0, 1.0, 0.0])
    expected = torch.softmax(torch.tensor([0.0, 2.0, 0.0]), 0)
    np.testing.assert_allclose(result.probabilities, expected.expand(9, 3).numpy(), atol=1e-6)
    assert result.loss == pytest.approx(float(-expected.log().mean() * 3 / 3), rel=1e-5)
    report = result.to_dict()
    assert report["per_class"]["green"] == {"accuracy": 1.0, "images": 3}
    assert report["predictions"][0] == {
        "image": "red/0.png", "label": "red", "predicted": "green",
        "probability": pytest.approx(float(expected[1]), abs=1e-6),
    }  # fmt: skip


def test_eval_result_marks_classes_without_images():
    result = EvalResult(
        class_names=("a", "b", "c"),
        labels=np.array([0, 0, 1]),
        probabilities=np.array([[0.9, 0.1, 0], [0.2, 0.8, 0], [0.3, 0.7, 0]], dtype=np.float32),
        loss=0.0,
    )
    assert result.accuracy == pytest.approx(2 / 3)
    assert np.isnan(result.per_class_accuracy[2])
    assert result.to_dict()["per_class"]["c"]["accuracy"] is None


def test_evaluate_centre_crops_images_cached_at_the_resize_size():
    model = random_model()  # 32px crop from a 36px resize, like torchvision's policy
    pre = model.meta.preprocessing
    data = colour_images(4, size=pre.resize_size)
    cropped = CachedImages(
        images=data.images[..., 2:34, 2:34].contiguous(), labels=data.labels % 5,
        paths=data.paths, skipped=(),
    )  # fmt: skip
    data = CachedImages(images=data.images, labels=data.labels % 5, paths=data.paths, skipped=())
    np.testing.assert_allclose(
        evaluate(model, data).probabilities, evaluate(model, cropped).probabilities, atol=1e-6
    )
