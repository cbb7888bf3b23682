"""`vit-studio analyze`: one line per image, JSON and NPZ exports, bad files never stop the run;
with --csv, folder trees predicted in batches and streamed to a CSV that Ctrl-C keeps."""

import csv
import json
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from tests.backbones import save_timm_folder, timm_dinov2
from tests.conftest import TINY_ARCH, random_model, uncounted_heads_checkpoint, write_image
from tests.engine import longhand
from tests.stock_predictions import stock_top_k
from vit_studio.cli import analyze as analyze_command
from vit_studio.cli import main
from vit_studio.engine.checkpoints import load_model
from vit_studio.engine.images import open_image, prepare_image
from vit_studio.engine.model import save_model
from vit_studio.engine.vit import VisionTransformer  # the class that runs every model we open


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
        "gradcam": (g, g),
        "attnlrp": (g, g),
        "explained_class": (),
    }
    assert {name: arrays[name].shape for name in arrays.files} == expected
    assert all(arrays[name].dtype == np.float32 for name in arrays.files)
    assert arrays["rollout"].max() == pytest.approx(1.0)


def test_npz_maps_of_the_predicted_class_match_their_longhand_computation(
    model_file, photo, tmp_path
):
    out = tmp_path / "analysis.npz"
    assert main(["analyze", str(photo), "--model", str(model_file), "--npz", str(out)]) == 0
    arrays = np.load(out)
    top = int(arrays["explained_class"])
    assert top == int(arrays["probs"].argmax())
    module = load_model(model_file).module.double()
    image = torch.from_numpy(arrays["input"]).double()
    np.testing.assert_allclose(
        arrays["attnlrp"], longhand.attnlrp(module, image, top), rtol=1e-4, atol=1e-5
    )
    assert arrays["attnlrp"].min() < 0 < arrays["attnlrp"].max()  # signed
    f = longhand.forward(module, image, top)
    np.testing.assert_allclose(arrays["gradcam"], longhand.gradcam(f), rtol=1e-4, atol=1e-5)


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


# --csv: whole folders, batched, streamed.


@pytest.fixture
def class_tree(tmp_path):
    """photos/class 0/…, photos/class 1/… (4 images each), one loose image and one broken file."""
    root = tmp_path / "photos"
    for k in range(8):
        write_image(root / f"class {k % 2}" / f"{k}.png", size=(36 + k, 32), seed=k)
    write_image(root / "loose.png", seed=9)
    (root / "class 1" / "broken.jpg").write_bytes(b"not a jpeg")
    return root


def read_csv(path):
    return list(csv.DictReader(path.open()))


def test_csv_of_a_class_tree_covers_every_image_relative_to_the_folder(model_file, class_tree,
                                                                       tmp_path, capsys):
    out = tmp_path / "predictions.csv"
    code = main(["analyze", str(class_tree), "--csv", str(out), "--model", str(model_file),
                 "--top-k", "3", "--batch-size", "4"])  # fmt: skip
    assert code == 2  # one file was unreadable; its row says why
    rows = read_csv(out)
    assert [r["image"] for r in rows] == (
        ["class 0/0.png", "class 0/2.png", "class 0/4.png", "class 0/6.png", "class 1/1.png",
         "class 1/3.png", "class 1/5.png", "class 1/7.png", "class 1/broken.jpg", "loose.png"]
    )  # fmt: skip
    assert [r["true_label"] for r in rows] == ["class 0"] * 4 + ["class 1"] * 5 + [""]
    assert rows[8]["error"] == "not an image" and rows[8]["label_1"] == ""
    model = load_model(model_file)
    for row in rows:
        if row["error"]:
            continue
        indices, probabilities = stock_top_k(model, class_tree / row["image"], 3)
        assert [row[f"label_{r}"] for r in (1, 2, 3)] == [model.label(i) for i in indices]
        assert [float(row[f"probability_{r}"]) for r in (1, 2, 3)] == pytest.approx(
            probabilities, abs=1e-6
        )
    agrees = sum(1 for r in rows if r["true_label"] and r["label_1"] == r["true_label"])
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"wrote 10 rows to {out}, 1 unreadable in ")
    assert line.endswith(f"the top prediction is the folder's name for {agrees} of 8 "
                         f"({agrees / 8:.1%})")  # fmt: skip


def test_csv_of_files_and_folders_names_folder_rows_by_their_folder(model_file, class_tree,
                                                                     photo, tmp_path):
    out = tmp_path / "mixed.csv"
    main(["analyze", str(photo), str(class_tree / "class 0"), "--csv", str(out), "--model",
          str(model_file)])  # fmt: skip
    rows = read_csv(out)
    assert [r["image"] for r in rows] == [str(photo)] + [
        str(class_tree / "class 0" / f"{k}.png") for k in (0, 2, 4, 6)
    ]
    assert "true_label" not in rows[0]  # the images lie directly in the folder named


def test_csv_batch_size_sets_the_images_per_forward(model_file, class_tree, tmp_path,
                                                    monkeypatch):
    sizes = []
    forward = VisionTransformer.forward
    monkeypatch.setattr(VisionTransformer, "forward",
                        lambda self, x: sizes.append(len(x)) or forward(self, x))  # fmt: skip
    for batch_size, expected in (("3", [3, 3, 2, 1]), (None, [9])):
        sizes.clear()
        extra = ["--batch-size", batch_size] if batch_size else []
        main(["analyze", str(class_tree), "--csv", str(tmp_path / "p.csv"), "--model",
              str(model_file), *extra])  # fmt: skip
        # 10 files, one unreadable: 3 + 3 + (3 - 1) + 1, or one batch of the CPU default (32).
        assert sizes == expected


def test_ctrl_c_keeps_the_finished_rows_and_says_how_many(model_file, class_tree, tmp_path,
                                                          monkeypatch, capsys):
    def interrupt_after_the_first_batch(self, done, total):
        raise KeyboardInterrupt

    monkeypatch.setattr(analyze_command._CsvProgress, "__call__", interrupt_after_the_first_batch)
    out = tmp_path / "predictions.csv"
    code = main(["analyze", str(class_tree), "--csv", str(out), "--model", str(model_file),
                 "--batch-size", "4"])  # fmt: skip
    assert code == 130
    assert capsys.readouterr().err == f"vit-studio: interrupted: kept 4 of 10 rows in {out}\n"
    assert [r["image"] for r in read_csv(out)] == [f"class 0/{k}.png" for k in (0, 2, 4, 6)]
    assert list(tmp_path.glob(".*.tmp")) == []


RUN_WITH_CTRL_C = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from vit_studio.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.slow
def test_sigint_to_a_running_analyze_keeps_complete_rows(model_file, photo, tmp_path):
    folder = tmp_path / "many"
    folder.mkdir()
    # Enough images that the run is still going when the signal comes on a busy machine.
    count = 2000
    for k in range(count):
        shutil.copy(photo, folder / f"{k:04d}.png")
    out = tmp_path / "predictions.csv"
    # The command as `python -m vit_studio` runs it, with Ctrl-C's handler set: a suite started
    # in the background by a shell without job control (`.ci/run &`) ignores SIGINT, and a child
    # inherits that, so it would never see the signal.
    command = [sys.executable, "-c", RUN_WITH_CTRL_C, "analyze", str(folder), "--csv", str(out),
               "--model", str(model_file), "--batch-size", "1", "--device", "cpu"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while process.poll() is None and not any(
            len(p.read_text().splitlines()) > 2 for p in tmp_path.glob(".predictions.csv.*.tmp")
        ):
            time.sleep(0.01)  # waiting for a subprocess to get going, not for a result
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    said = rf"vit-studio: interrupted: kept (\d+) of {count:,} rows in {re.escape(str(out))}\n"
    found = re.fullmatch(said, err)
    assert found, err
    kept = int(found.group(1))
    rows = list(csv.reader(out.open()))
    assert rows[0][0] == "image" and len(rows) == 1 + kept and 1 <= kept < count
    assert all(len(row) == len(rows[0]) and row[-1] == "" for row in rows[1:])
    assert [r[0] for r in rows[1:]] == [f"{k:04d}.png" for k in range(kept)]
    assert list(tmp_path.glob("*.tmp")) == list(tmp_path.glob(".*.tmp")) == []


def test_a_log_gets_a_plain_progress_line_with_speed_and_time_left(model_file, class_tree,
                                                                   tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(analyze_command, "PLAIN_EVERY_S", 0.0)
    main(["analyze", str(class_tree), "--csv", str(tmp_path / "p.csv"), "--model",
          str(model_file), "--batch-size", "4"])  # fmt: skip
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" images,")[0] for line in lines] == ["predicting: 4/10", "predicting: 8/10"]
    assert all(re.search(r"images, [\d.,]+ images/s, ETA \d+:\d\d$", line) for line in lines)


def test_a_folder_without_csv_is_a_one_line_hint_and_the_others_still_run(model_file, class_tree,
                                                                         photo, capsys):
    assert main(["analyze", str(class_tree), str(photo), "--model", str(model_file)]) == 2
    captured = capsys.readouterr()
    assert captured.err == (f"vit-studio: error: {class_tree}: a folder; add --csv FILE to "
                            "predict every image in it and its subfolders\n")  # fmt: skip
    assert captured.out.startswith(f"{photo}: ")


@pytest.mark.parametrize(("options", "message"), [
    (["--csv", "p.csv", "--json", "-"], "--csv writes predictions only"),
    (["--csv", "p.csv", "--npz", "a.npz"], "--csv writes predictions only"),
    (["--csv", "-"], "--csv needs a file name"),
    (["--csv", "p.csv", "--batch-size", "0"], "--batch-size 0: give at least 1"),
    (["--batch-size", "8"], "--batch-size applies to --csv only"),
])  # fmt: skip
def test_options_that_do_not_go_with_csv_are_one_line_errors(model_file, photo, options,
                                                              message, capsys):
    assert main(["analyze", str(photo), "--model", str(model_file), *options]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


def npz_inputs(model_file, images, out, capsys) -> str:
    assert main(["analyze", *map(str, images), "--model", str(model_file), "--npz", str(out)]) == 0
    return capsys.readouterr().out


def assert_holds_the_input_of(npz_path, image_path, model_file):
    model = load_model(model_file)
    prepared = prepare_image(open_image(image_path), model.meta.preprocessing)
    np.testing.assert_allclose(np.load(npz_path)["input"], prepared.tensor.numpy(), atol=1e-6)


def test_npz_of_same_named_images_in_two_folders_keeps_the_folders(model_file, tmp_path, capsys):
    first = write_image(tmp_path / "in" / "a" / "cat.jpg", seed=1)
    second = write_image(tmp_path / "in" / "b" / "cat.jpg", seed=2)
    out = tmp_path / "arrays"
    printed = npz_inputs(model_file, [first, second], out, capsys)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.npz")) == [
        "a/cat.npz", "b/cat.npz"
    ]
    assert_holds_the_input_of(out / "a" / "cat.npz", first, model_file)
    assert_holds_the_input_of(out / "b" / "cat.npz", second, model_file)
    assert f"{first}: arrays in {out / 'a' / 'cat.npz'}" in printed.splitlines()
    assert f"{second}: arrays in {out / 'b' / 'cat.npz'}" in printed.splitlines()


def test_npz_of_images_whose_stems_clash_keep_their_whole_names(model_file, tmp_path, capsys):
    jpg = write_image(tmp_path / "cat.jpg", seed=1)
    png = write_image(tmp_path / "cat.png", seed=2)
    dog = write_image(tmp_path / "dog.png", seed=3)
    out = tmp_path / "arrays"
    npz_inputs(model_file, [jpg, png, dog, png], out, capsys)
    assert sorted(p.name for p in out.iterdir()) == [
        "cat.jpg.npz", "cat.png-2.npz", "cat.png.npz", "dog.npz"
    ]
    assert_holds_the_input_of(out / "cat.jpg.npz", jpg, model_file)
    assert_holds_the_input_of(out / "cat.png.npz", png, model_file)
    assert_holds_the_input_of(out / "dog.npz", dog, model_file)


def test_npz_names_differing_only_in_case_never_share_a_file(tmp_path):
    # One file on macOS and Windows: named apart everywhere, so a folder copied there keeps both.
    targets = analyze_command.npz_targets(
        str(tmp_path / "out"), [tmp_path / "Cat.png", tmp_path / "cat.png"]
    )
    assert len({str(t).casefold() for t in targets}) == 2
