"""Head-less backbones (DINO, DINOv2, MAE): loaded with a zero-width head, saved and reloaded in
our format, analysed as far as a model without classes allows, fine-tuned into a classifier."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torchvision
from safetensors import safe_open
from safetensors.torch import load_file

from tests.backbones import DINOV2_SIZE, save_timm_folder, timm_dinov2
from tests.conftest import write_image
from vit_studio.engine.analysis import analyze, best_prediction_text
from vit_studio.engine.batch import predict_files
from vit_studio.engine.checkpoints import load_model
from vit_studio.engine.errors import StudioError
from vit_studio.engine.export import analysis_record, write_npz
from vit_studio.engine.images import open_image, prepare_image
from vit_studio.engine.model import FORMAT_KEY, NO_CLASSIFIER, save_model
from vit_studio.engine.training.adapt import prepare_finetune
from vit_studio.engine.training.evaluation import evaluate_folder
from vit_studio.engine.training.pipeline import RunRequest, prepare_run, run


@pytest.fixture
def backbone_folder(tmp_path):
    return save_timm_folder(timm_dinov2(), tmp_path / "dinov2-tiny")


@pytest.fixture
def backbone(backbone_folder):
    return load_model(backbone_folder)


@pytest.fixture
def backbone_analysis(backbone, tmp_path):
    image = write_image(tmp_path / "photo.png", size=(70, 60))
    return analyze(backbone, prepare_image(open_image(image), backbone.meta.preprocessing))


def test_a_timm_model_without_a_head_loads_as_a_vit_with_a_zero_width_head(backbone):
    assert backbone.arch.num_classes == 0 and not backbone.arch.has_classifier
    assert backbone.meta.class_names == ()
    assert backbone.module.heads.head.weight.shape == (0, 32)
    images = torch.zeros(2, 3, DINOV2_SIZE, DINOV2_SIZE)
    with torch.no_grad():
        assert backbone.module(images).shape == (2, 0)
    assert "no classifier" in backbone.arch.describe()


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")
def test_a_backbone_saves_and_loads_in_our_format_and_in_stock_torchvision(backbone, tmp_path):
    path = save_model(backbone, tmp_path / "backbone.safetensors")

    again = load_model(path)

    assert again.arch == backbone.arch and again.meta.class_names == ()
    before, after = backbone.module.state_dict(), again.module.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)
    meta = json.loads(safe_open(str(path), "pt").metadata()[FORMAT_KEY])
    stock = torchvision.models.VisionTransformer(**meta["arch"])
    stock.load_state_dict(load_file(str(path)))


def test_a_backbone_analysis_has_attention_rollout_positions_distances_and_norms(
    backbone_analysis,
):
    analysis = backbone_analysis
    g, layers, heads = 4, 2, 2
    assert not analysis.has_classifier
    assert analysis.logits.shape == (0,) and analysis.probs.shape == (0,)
    assert analysis.attentions.shape == (layers, heads, 1 + g * g, 1 + g * g)
    assert analysis.cls_attention.shape == (layers, heads, g, g)
    rollout = analysis.rollout("max", 0.5, 1)
    assert rollout.shape == (g, g) and rollout.max() == pytest.approx(1.0)
    assert analysis.pos_similarity.shape == (g, g, g, g)
    assert analysis.mean_attention_distance.shape == (layers, heads)
    assert analysis.patch_token_norms().shape == (layers, g, g)
    for array in (analysis.attentions, analysis.mean_attention_distance, analysis.token_norms):
        assert np.isfinite(array).all()


def test_predictions_and_class_rollout_of_a_backbone_say_it_has_no_classifier(
    backbone_analysis,
):
    for ask in (lambda: backbone_analysis.top_k(5), lambda: backbone_analysis.gradient_rollout(0)):
        with pytest.raises(StudioError, match="has no classes .*a backbone without a classifier"):
            ask()
    assert best_prediction_text(backbone_analysis) == f"no classes ({NO_CLASSIFIER})"


def test_class_gradients_of_a_backbone_are_none_for_top_k_and_refused_by_index(
    backbone, tmp_path
):
    image = write_image(tmp_path / "photo.png")
    prepared = prepare_image(open_image(image), backbone.meta.preprocessing)
    assert dict(analyze(backbone, prepared, gradient_classes=5).class_relevance) == {}
    with pytest.raises(StudioError, match="no classes to explain"):
        analyze(backbone, prepared, gradient_classes=[0])


def test_a_backbone_exports_its_arrays_and_an_empty_top_k_saying_why(backbone_analysis, tmp_path):
    record = analysis_record(backbone_analysis, 5)
    assert record["top_k"] == [] and record["no_classes"] == NO_CLASSIFIER
    write_npz(tmp_path / "a.npz", backbone_analysis)
    with np.load(tmp_path / "a.npz") as arrays:
        assert arrays["probs"].shape == (0,) and arrays["rollout"].shape == (4, 4)


def test_folder_predictions_and_evaluation_of_a_backbone_are_refused(backbone, tmp_path):
    image = write_image(tmp_path / "data" / "a" / "0.png")
    write_image(tmp_path / "data" / "b" / "0.png", seed=1)
    with pytest.raises(StudioError, match="no classes to predict"):
        predict_files(backbone, [image])
    with pytest.raises(StudioError, match="no classes to evaluate"):
        evaluate_folder(backbone, tmp_path / "data")


def test_preparing_a_fine_tune_of_a_backbone_adds_a_head_for_the_folders_classes(backbone):
    model = prepare_finetune(backbone, ("cat", "dog", "fox"))
    assert model.arch.num_classes == 3 and model.meta.class_names == ("cat", "dog", "fox")
    with torch.no_grad():
        assert model.module(torch.zeros(1, 3, DINOV2_SIZE, DINOV2_SIZE)).shape == (1, 3)
    assert backbone.arch.num_classes == 0  # the base is left as it was


def test_fine_tuning_a_backbone_on_a_folder_makes_a_classifier(backbone_folder, tmp_path):
    for k, name in enumerate(("a", "b")):
        for i in range(4):
            write_image(tmp_path / "data" / name / f"{i}.png", size=(60, 60), seed=10 * k + i)
    out = tmp_path / "mine.safetensors"
    settings = {"epochs": 1, "batch_size": 4, "device": "cpu", "precision": "fp32"}
    request = RunRequest("finetune", tmp_path / "data", out, settings, base_model=backbone_folder)

    run(prepare_run(request))

    tuned = load_model(out)
    assert tuned.arch.num_classes == 2 and tuned.meta.class_names == ("a", "b")
