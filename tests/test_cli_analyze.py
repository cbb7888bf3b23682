"""`vit-studio analyze`: one line per image, JSON and NPZ exports, bad files never stop the run."""

import json

import numpy as np
import pytest

from tests.backbones import save_timm_folder, timm_dinov2
from tests.conftest import TINY_ARCH, random_model, uncounted_heads_checkpoint, write_image
from vit_studio.cli import main
from vit_studio.engine.model import save_model


@pytest.fixture
def model_file(tmp_path):
    return save_model(random_model(), tmp_path / "tiny.safetensors")


def test_prints_top_k_per_image(model_file, photo, capsys):
    assert main(["analyze", str(photo), "--model", str(model_file), "--top-k", "2"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{photo}: class ")
    assert line.count("%") == 2


def test_json_holds_model_top_k_and_timings(model_file, photo, capsys):
    assert main(["analyze", str(photo), "--model", str(model_file), "--json", "-"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["model"] == "tiny"
    (record,) = document["images"]
    assert len(record["top_k"]) == 5
    assert set(record["top_k"][0]) == {"label", "index", "probability"}
    probabilities = [p["probability"] for p in record["top_k"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) == pytest.approx(1.0, abs=1e-4)  # 5 classes: top-5 is all of them
    assert set(record["timing_ms"]) == {"load", "forward", "analysis"}


def test_npz_holds_every_array_in_float32_with_documented_shapes(model_file, photo, tmp_path):
    out = tmp_path / "analysis.npz"
    assert main(["analyze", str(photo), "--model", str(model_file), "--npz", str(out)]) == 0
    arrays = np.load(out)
    g, n = TINY_ARCH.grid_size, TINY_ARCH.num_tokens
    layers, heads = TINY_ARCH.num_layers, TINY_ARCH.num_heads
    expected = {
        "input": (3, 32, 32),
        "logits": (TINY_ARCH.num_classes,),
        "probs": (TINY_ARCH.num_classes,),
        "attentions": (layers, heads, n, n),
        "rollout": (g, g),
        "pos_similarity": (g, g, g, g),
        "mean_attention_distance": (layers, heads),
        "token_norms": (layers, n),
        "logit_lens": (layers, TINY_ARCH.num_classes),
    }
    assert {name: arrays[name].shape for name in arrays.files} == expected
    assert all(arrays[name].dtype == np.float32 for name in arrays.files)
    assert arrays["rollout"].max() == pytest.approx(1.0)


def test_bad_image_is_one_line_error_and_the_others_still_run(model_file, tmp_path, capsys):
    good = write_image(tmp_path / "good.png")
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg at all")
    out_dir = tmp_path / "arrays"
    code = main(["analyze", str(bad), str(good), "--model", str(model_file),
                 "--npz", str(out_dir)])
    captured = capsys.readouterr()
    assert code == 2
    error_lines = captured.err.strip().splitlines()
    assert len(error_lines) == 1 and "broken.jpg" in error_lines[0]
    assert "Traceback" not in captured.err
    assert str(good) in captured.out
    assert (out_dir / "good.npz").is_file() and not (out_dir / "broken.npz").exists()


def test_unreadable_model_is_a_one_line_error(tmp_path, photo, capsys):
    fake = tmp_path / "model.safetensors"
    fake.write_text("hello")
    assert main(["analyze", str(photo), "--model", str(fake)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model.safetensors" in err


def test_cuda_device_without_a_gpu_says_so(model_file, photo, capsys, monkeypatch):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert main(["analyze", str(photo), "--model", str(model_file), "--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_without_a_bundled_model_the_message_asks_for_one(photo, capsys, monkeypatch):
    monkeypatch.setattr("vit_studio.engine.resources.default_model_path", lambda: None)
    assert main(["analyze", str(photo)]) == 2
    assert "pass --model" in capsys.readouterr().err


def test_without_an_image_the_shipped_sample_photos_are_analysed(model_file, tmp_path, capsys,
                                                                  monkeypatch):
    samples = [write_image(tmp_path / "samples" / name) for name in ("b.jpg", "a.png")]
    (tmp_path / "samples" / "LICENSES.md").write_text("credits")
    monkeypatch.setattr("vit_studio.engine.resources.SAMPLES_DIR", tmp_path / "samples")
    assert main(["analyze", "--model", str(model_file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[0] for line in lines] == [str(samples[1]), str(samples[0])]
    monkeypatch.setattr("vit_studio.engine.resources.SAMPLES_DIR", tmp_path / "none")
    assert main(["analyze", "--model", str(model_file)]) == 2
    assert "no IMAGE given and no sample photos are installed" in capsys.readouterr().err


def test_a_backbone_is_analysed_and_the_line_says_it_has_no_classes(tmp_path, photo, capsys):
    folder = save_timm_folder(timm_dinov2(), tmp_path / "dinov2-tiny")
    out = tmp_path / "backbone.npz"

    assert main(["analyze", str(photo), "--model", str(folder), "--npz", str(out)]) == 0

    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{photo}: no classes (a backbone without a classifier")
    assert "2 layers x 2 heads on 4x4 patches" in line
    with np.load(out) as arrays:
        assert arrays["attentions"].shape == (2, 2, 17, 17) and arrays["probs"].shape == (0,)


def test_a_head_count_the_file_does_not_record_is_given_with_num_heads(photo, tmp_path, capsys):
    path = uncounted_heads_checkpoint(tmp_path / "narrow.pth")
    assert main(["analyze", str(photo), "--model", str(path)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--num-heads N" in error and str(path) in error
    assert main(["analyze", str(photo), "--model", str(path), "--num-heads", "4", "--json",
                 "-"]) == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["model"] == "narrow"
