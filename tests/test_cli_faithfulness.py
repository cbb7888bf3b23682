"""`vit-studio faithfulness`: the JSON of mean AUCs per method, one-line errors, a clean Ctrl-C."""

import json

import pytest

from tests.conftest import random_model, write_image
from vit_studio.cli import faithfulness, main
from vit_studio.engine.explain.methods import METHODS
from vit_studio.engine.model import save_model


@pytest.fixture
def model_file(tmp_path):
    return save_model(random_model(), tmp_path / "tiny.safetensors")


@pytest.fixture
def folder(tmp_path):
    images = tmp_path / "images"
    for k in range(3):
        write_image(images / f"class{k % 2}" / f"{k}.png", size=(32, 32), seed=k)
    return images


def test_json_holds_the_mean_of_every_auc_for_every_method(model_file, folder, tmp_path, capsys):
    out = tmp_path / "faithfulness.json"
    assert main(["faithfulness", str(folder), "--model", str(model_file), "--json", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["model"] == "tiny" and document["images"] == 3
    assert list(document["methods"]) == list(METHODS)
    assert document["start_layer"] == 0 and document["confidence"] == 0.95
    for name, aucs in document["methods"].items():
        for auc in ("positive_auc", "negative_auc", "deletion_auc", "insertion_auc"):
            low, high = aucs[f"{auc}_ci"]
            assert low <= aucs[auc] <= high
            if name != "random":
                assert aucs[f"{auc}_vs_random"]["verdict"] in ("better", "tie", "worse")
        assert 0.0 <= aucs["positive_auc"] <= 90.0 and 0.0 <= aucs["insertion_auc"] <= 1.0
    table = capsys.readouterr().out
    assert "tiny on 3 images: mean [95% bootstrap interval]" in table
    assert "attnlrp" in table and "gradcam" in table


def test_methods_and_limit_choose_what_is_scored(model_file, folder, capsys):
    argv = ["faithfulness", str(folder), "--model", str(model_file), "--json", "-"]
    assert main([*argv, "--methods", "rollout", "random", "--limit", "2"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["images"] == 2
    assert list(document["methods"]) == ["rollout", "random"]


def test_start_layer_is_transformer_attributions_and_is_recorded(model_file, folder, capsys):
    argv = ["faithfulness", str(folder), "--model", str(model_file), "--json", "-"]
    assert main([*argv, "--methods", "transformer_attribution", "--start-layer", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["start_layer"] == 2


def test_an_unreadable_image_is_skipped_on_one_line(model_file, folder, capsys):
    (folder / "broken.png").write_bytes(b"not an image")
    argv = ["faithfulness", str(folder), "--model", str(model_file), "--json", "-"]
    assert main([*argv, "--methods", "random"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["images"] == 3
    assert captured.err.count("skipped") == 1 and "broken.png" in captured.err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--methods", "lime"], "method 'lime' is unknown; choose from random"),
        (["--start-layer", "3"], "--start-layer 3: tiny has layers 0..2"),
        (["--limit", "0"], "--limit 0: give a number of images of at least 1"),
    ],
)
def test_bad_options_are_one_line_errors(model_file, folder, capsys, extra, message):
    assert main(["faithfulness", str(folder), "--model", str(model_file), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_folder_without_images_is_a_one_line_error(model_file, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["faithfulness", str(tmp_path / "empty"), "--model", str(model_file)]) == 2
    assert "holds no image files" in capsys.readouterr().err


def test_ctrl_c_writes_nothing_and_exits_130(model_file, folder, tmp_path, capsys, monkeypatch):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(faithfulness, "evaluate_faithfulness", interrupted)
    out = tmp_path / "faithfulness.json"
    assert (
        main(["faithfulness", str(folder), "--model", str(model_file), "--json", str(out)]) == 130
    )
    assert not out.exists()
    assert capsys.readouterr().err == "vit-studio: interrupted: nothing was written\n"
