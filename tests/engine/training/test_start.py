"""Where a fine-tune starts and when it stops: the base model's own head where the folder's
classes are its classes, a probe otherwise, the better of the two on validation; the starting
model kept until an epoch beats it; a run stopped once validation stops improving."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.engine.training.helpers import CLASSES, colour_images, config, fresh
from vit_studio.engine.augment import normalize_images
from vit_studio.engine.model import load_studio_model
from vit_studio.engine.training import RunStatus, TrainCallbacks, prepare_finetune, train
from vit_studio.engine.training.baseline import fit_logistic_regression
from vit_studio.engine.training.evaluation import beats
from vit_studio.engine.training.loop import START_MARGIN_Z
from vit_studio.engine.training.source import BatchSource
from vit_studio.engine.training.start import BASE_HEAD, PROBE_HEAD, choose_start, head_inputs


def logits(model, images) -> torch.Tensor:
    pre = model.meta.preprocessing
    model.module.eval()
    with torch.no_grad():
        return model.module(normalize_images(images, pre.mean, pre.std, model.arch.image_size))


def test_a_folder_of_the_base_models_classes_starts_as_the_base_model_restricted_to_them():
    base = fresh()
    folder_classes = ("Blues", "red")  # as people name folders: plural, capitalised
    model = prepare_finetune(base, folder_classes)
    images = colour_images(6).images
    expected = logits(base, images)[:, [CLASSES.index("blue"), CLASSES.index("red")]]
    torch.testing.assert_close(logits(model, images), expected)
    assert model.meta.provenance["head_from_base"] == [2, 0]


def test_a_folder_with_a_class_the_base_model_lacks_starts_from_a_new_head():
    model = prepare_finetune(fresh(), ("red", "purple"))
    assert "head_from_base" not in model.meta.provenance
    assert not model.module.heads.head.weight.any() and not model.module.heads.head.bias.any()


def sources(train_count=30, val_count=12):
    cpu = torch.device("cpu")
    return (
        BatchSource(colour_images(train_count, seed=1), cpu),
        BatchSource(colour_images(val_count, seed=2), cpu),
    )


def prepare_of(model):
    pre = model.meta.preprocessing
    return lambda batch: normalize_images(batch, pre.mean, pre.std, model.arch.image_size)


def test_the_probe_is_fitted_to_the_frozen_features_and_scored_on_validation():
    model = prepare_finetune(fresh(), ("red", "purple", "orange"))  # nothing of the base's
    train_source, val_source = sources()
    start = choose_start(model.module, train_source, val_source, prepare_of(model), 16,
                         has_base_head=False, fit_probe=True)  # fmt: skip
    features = head_inputs(model.module, train_source, prepare_of(model), 16)
    weight, bias = fit_logistic_regression(features, train_source.labels, 3, l2=1e-2)
    head = model.module.heads.head
    torch.testing.assert_close(head.weight, weight, rtol=1e-4, atol=1e-5)
    val_features = head_inputs(model.module, val_source, prepare_of(model), 16)
    right = (val_features @ weight.T + bias).argmax(1) == val_source.labels
    assert start.chosen == PROBE_HEAD and start.base_acc is None
    assert start.probe_acc == pytest.approx(right.float().mean().item())


def test_the_base_models_head_is_kept_when_it_validates_at_least_as_well_as_the_probe():
    base = fresh()
    # The base model, trained a little on the colours, knows them: its own head is the better.
    train(base, colour_images(48), None, config(epochs=6, augment=replace(config().augment)))
    model = prepare_finetune(base, CLASSES)
    before = model.module.heads.head.weight.clone()
    train_source, _ = sources(train_count=6)  # a probe fitted to six images knows less
    val_source = BatchSource(colour_images(30, seed=3), torch.device("cpu"))
    start = choose_start(model.module, train_source, val_source, prepare_of(model), 16,
                         has_base_head=True, fit_probe=True)  # fmt: skip
    assert start.base_acc >= start.probe_acc and start.chosen == BASE_HEAD
    assert torch.equal(model.module.heads.head.weight, before)  # not replaced by the probe
    assert "the base model alone" in start.describe()


def test_the_starting_model_is_kept_when_no_epoch_beats_it(tmp_path):
    model = fresh()
    started = []
    out = tmp_path / "m.safetensors"
    # Learning rate 0 all along: no step changes anything, so no epoch can beat the start.
    result = train(model, colour_images(32), colour_images(12, seed=4),
                   config(epochs=2, lr=0.0, min_lr=0.0, keep_start=True), out=out,
                   callbacks=TrainCallbacks(on_start=started.append))  # fmt: skip
    assert result.best_epoch == 0 and started == [None]  # no head to choose: from scratch
    saved = load_studio_model(out)
    assert saved.meta.provenance["training"]["epochs_completed"] == 0


def test_a_run_stops_once_validation_has_not_improved_for_its_patience(tmp_path):
    notes = []
    result = train(fresh(), colour_images(32), colour_images(12, seed=4),
                   config(epochs=20, lr=0.0, min_lr=0.0, keep_start=True, patience=3),
                   callbacks=TrainCallbacks(on_note=notes.append))  # fmt: skip
    # Nothing changes, so epoch 1 is the last that beat the epochs before it: 3 more, then stop.
    assert result.status == RunStatus.EARLY_STOPPED and result.epochs_completed == 4
    assert any("validation has not improved for 3 epochs" in n and "kept the starting model" in n
               for n in notes)  # fmt: skip


def test_without_patience_every_epoch_runs():
    result = train(fresh(), colour_images(32), colour_images(12, seed=4),
                   config(epochs=4, lr=0.0, min_lr=0.0, keep_start=True))  # fmt: skip
    assert result.status == RunStatus.COMPLETED and result.epochs_completed == 4


def test_an_epoch_replaces_the_starting_model_only_when_clearly_better_on_the_same_images():
    start = np.array([True] * 30 + [False] * 10)
    # One image more: gained 2, lost 1 -> z = 1/sqrt(3) = 0.58, noise.
    one_more = start.copy()
    one_more[[30, 31, 0]] = [True, True, False]
    assert not beats(one_more, start, START_MARGIN_Z)
    # Four more: gained 5, lost 1 -> z = 4/sqrt(6) = 1.63.
    four_more = start.copy()
    four_more[[30, 31, 32, 33, 34, 0]] = [True] * 5 + [False]
    assert beats(four_more, start, START_MARGIN_Z)
    # The same count right, but other images: no evidence either way.
    swapped = start.copy()
    swapped[[30, 31, 0, 1]] = [True, True, False, False]
    assert not beats(swapped, start, 0.0)
