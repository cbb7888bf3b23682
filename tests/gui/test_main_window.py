"""The explorer window driven from code: images, models, devices, controls, exports, errors."""

from __future__ import annotations

import csv
import json
import threading

import numpy as np
import pytest
import torch
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication
from threadpoolctl import threadpool_info

from tests.conftest import uncounted_heads_checkpoint, write_image
from tests.gui.conftest import WAIT_MS, make_settings, open_window
from tests.gui.folder_exports import gate_decoding_after, many
from vit_studio.engine import checkpoints
from vit_studio.engine.batch import CPU_BATCH_SIZE
from vit_studio.engine.model import StudioModel
from vit_studio.gui.state.rollout import RolloutSettings


def shown_paths(window) -> list:
    """Record the image of every analysis the window shows from now on."""
    shown = []
    window.analysisReady.connect(lambda _analysis: shown.append(window.result.path))
    return shown


def wait_idle(qtbot, window) -> None:
    qtbot.waitUntil(lambda: not window.busy, timeout=WAIT_MS)


def test_opening_an_image_shows_its_analysis_everywhere(loaded, images):
    analysis = loaded.result.analysis
    assert loaded.result.path == images[0]
    shown = [p.index for p in loaded.views.predictions.bars.predictions()]
    assert shown == [p.index for p in analysis.top_k(5)]
    assert loaded.overlay_kind() == "rollout"
    np.testing.assert_allclose(loaded.view_map, analysis.rollout("mean", 0.0, 0))
    assert "Attention rollout" in loaded.image_view.title()
    assert images[0].name in loaded.windowTitle()
    assert loaded.filmstrip.paths() == images  # the image's folder, for the arrow keys


def test_model_panel_describes_the_model(loaded, model_file):
    panel = loaded.model_panel
    assert panel.field("name") == "tiny"
    assert panel.field("architecture").startswith("3 layers × 4 heads (recorded in the file)")
    assert panel.field("grid").startswith("4 × 4 patches of 8 px")
    assert panel.field("classes").startswith("5: class 0, class 1")
    assert panel.field("device").startswith("CPU")
    assert panel.field("file") == str(model_file)
    assert loaded.model_summary.num_parameters > 0


def test_the_newest_image_wins_and_stale_results_are_dropped(qtbot, loaded, images):
    shown = shown_paths(loaded)
    loaded.open_image(images[1])
    loaded.open_image(images[2])
    wait_idle(qtbot, loaded)
    assert shown == [images[2]]


def test_the_newest_model_wins(qtbot, window, model_file, eight_class_model_file, images):
    ready = []
    window.modelReady.connect(lambda summary: ready.append(summary.name))
    window.open_image(images[0])
    with qtbot.waitSignal(window.analysisReady, timeout=WAIT_MS):
        window.load_model(model_file)
        window.load_model(eight_class_model_file)
    wait_idle(qtbot, window)
    assert ready == ["eight"]
    assert len(window.result.analysis.class_names) == 8


def test_rollout_controls_redraw_from_the_cache_at_once(loaded):
    analysis = loaded.result.analysis
    loaded.rollout_controls.set_settings(RolloutSettings("plain", "max", 0.5, 1))
    # No waiting: the map is recomputed synchronously from the cached attentions.
    np.testing.assert_allclose(loaded.view_map, analysis.rollout("max", 0.5, 1))
    assert "max of heads, discard 0.50, from layer 2" in loaded.image_view.title()
    assert loaded.result.analysis is analysis


def test_choosing_a_cached_class_shows_its_gradient_rollout_at_once(qtbot, window,
                                                                     eight_class_model_file,
                                                                     images):
    window.rollout_controls.set_settings(RolloutSettings(mode="gradient"))
    with qtbot.waitSignal(window.analysisReady, timeout=WAIT_MS):
        window.load_model(eight_class_model_file)
        window.open_image(images[0])
    analysis = window.result.analysis
    top = [p.index for p in analysis.top_k(5)]
    assert sorted(analysis.class_relevance) == sorted(top)  # top-k gradients in one pass
    window.state.choose_class(top[2])
    np.testing.assert_allclose(window.view_map, analysis.gradient_rollout(top[2]))
    assert window.result.analysis is analysis
    assert f"'{analysis.class_names[top[2]]}'" in window.image_view.title()


def test_a_class_outside_the_cache_is_computed_in_the_worker(qtbot, loaded_eight):
    window = loaded_eight
    analysis = window.result.analysis
    outside = next(i for i in range(8) if i not in analysis.class_relevance)
    with qtbot.waitSignal(window.analysisReady, timeout=WAIT_MS):
        window.state.choose_class(outside)
        assert "Computing" in window.image_view.title()
        assert window.view_map is None  # an export now must not save the previous class's map
    relevance = window.result.analysis.class_relevance
    assert outside in relevance and set(analysis.class_relevance) <= set(relevance)
    np.testing.assert_allclose(window.view_map, window.result.analysis.gradient_rollout(outside))
    assert window.rollout_controls.settings().mode == "gradient"


@pytest.fixture
def loaded_eight(qtbot, window, eight_class_model_file, images):
    with qtbot.waitSignal(window.analysisReady, timeout=WAIT_MS):
        window.load_model(eight_class_model_file)
        window.open_image(images[0])
    return window


def test_clicking_a_patch_shows_where_it_attends_and_its_position_similarity(loaded):
    analysis = loaded.result.analysis
    canvas = loaded.image_view.canvas
    patch = 6  # row 2, column 3 of the 4 × 4 grid
    QTest.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=canvas.patch_rect(patch)
                     .center().toPoint())
    last = analysis.num_layers - 1
    assert loaded.overlay_kind() == "patch"
    np.testing.assert_allclose(loaded.view_map, analysis.patch_attention(last, patch))
    assert "row 2, column 3" in loaded.image_view.title()
    patch_view = loaded.views.patch
    assert loaded.views.current_view() == "patch"
    assert loaded.views.posembed.highlighted() == patch
    assert "Where patch row 2, column 3 attends" in patch_view.attention_view().title()
    assert "Position-embedding similarity" in patch_view.similarity_view().title()


def test_clicking_an_attention_thumbnail_overlays_that_head(loaded):
    analysis = loaded.result.analysis
    loaded.show_view("attention")
    grid = loaded.views.attention
    QTest.mouseClick(grid.canvas, Qt.MouseButton.LeftButton,
                     pos=grid.canvas.cell_rect(1, 2).center())
    assert loaded.overlay_kind() == "attention"
    np.testing.assert_allclose(loaded.view_map, analysis.cls_attention[1, 2])
    assert "layer 2, head 3" in loaded.image_view.title()
    # The patch inspector follows the selected layer and head.
    loaded.show_view("patch")
    assert loaded.views.patch.layer_head() == (1, 2)


def test_exports_view_png_and_analysis_json_and_npz(qtbot, loaded, tmp_path):
    for name in ("view.png", "analysis.json", "analysis.npz"):
        with qtbot.waitSignal(loaded.exportFinished, timeout=WAIT_MS):
            if name.endswith(".png"):
                loaded.export_view_png(tmp_path / name)
            else:
                loaded.export_analysis(tmp_path / name)
    assert not QImage(str(tmp_path / "view.png")).isNull()
    document = json.loads((tmp_path / "analysis.json").read_text())
    assert len(document["top_k"]) == 5 and document["view"]["overlay"] == "rollout"
    np.testing.assert_allclose(document["view_map"], loaded.view_map, atol=1e-6)
    arrays = np.load(tmp_path / "analysis.npz")
    assert arrays["attentions"].shape == loaded.result.analysis.attentions.shape
    np.testing.assert_allclose(arrays["view_map"], loaded.view_map)


def test_folder_export_writes_top_k_per_image_in_the_worker(qtbot, loaded, images, tmp_path):
    broken = images[0].parent / "zz_broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    loaded.open_folder(images[0].parent)
    out = tmp_path / "predictions.csv"
    progress = []
    loaded.exporter.progress.connect(lambda done, total: progress.append((done, total)))
    with qtbot.waitSignal(loaded.exportFinished, timeout=WAIT_MS) as blocker:
        loaded.export_folder_csv(out)
    assert blocker.args == [out]
    rows = list(csv.DictReader(out.open()))
    assert [r["image"] for r in rows] == [str(p) for p in [*images, broken]]
    assert all(r["label_1"] and not r["error"] for r in rows[:3])
    assert rows[3]["error"] and not rows[3]["label_1"]  # reported, not fatal
    assert progress[-1] == (4, 4)


def test_cancelling_a_folder_export_before_its_first_row_writes_nothing(qtbot, loaded, images,
                                                                       tmp_path, monkeypatch):
    # The export job, once started, waits to load its model until the cancel has been asked for.
    started, cancel_asked = threading.Event(), threading.Event()
    # The export thread imports the loader when it runs (torch comes with it).
    load_model = checkpoints.load_model

    def load_after_the_cancel(path):
        started.set()
        assert cancel_asked.wait(WAIT_MS / 1000)
        return load_model(path)

    monkeypatch.setattr(checkpoints, "load_model", load_after_the_cancel)
    loaded.open_folder(images[0].parent)
    out = tmp_path / "cancelled.csv"
    finished = []
    loaded.exportFinished.connect(finished.append)
    with qtbot.waitSignal(loaded.exporter.stopped, timeout=WAIT_MS) as blocker:
        loaded.export_folder_csv(out)
        qtbot.waitUntil(started.is_set, timeout=WAIT_MS)
        loaded.cancel_export()
        cancel_asked.set()
    assert blocker.args[0].images == 0
    assert not out.exists() and finished == []
    assert loaded.statusBar().currentMessage() == (
        f"Folder export cancelled before its first row; {out} was not written"
    )


def test_cancelling_a_folder_export_keeps_the_finished_rows_and_says_how_many(
    qtbot, loaded, images, tmp_path, monkeypatch
):
    many(images, 70)
    loaded.open_folder(images[0].parent)
    files = loaded.filmstrip.paths()
    first_batch = files[:CPU_BATCH_SIZE]
    gate = gate_decoding_after(monkeypatch, first_batch)

    def cancel_at_the_first_rows(done, total):
        loaded.cancel_export()
        gate.set()

    loaded.exporter.progress.connect(cancel_at_the_first_rows)
    out = tmp_path / "kept.csv"
    with qtbot.waitSignal(loaded.exporter.stopped, timeout=WAIT_MS) as blocker:
        loaded.export_folder_csv(out)
    rows = list(csv.DictReader(out.open()))
    assert blocker.args[0].images == len(rows) in (32, 64)
    assert [r["image"] for r in rows] == [str(p) for p in files[: len(rows)]]
    assert loaded.statusBar().currentMessage() == (
        f"Folder export cancelled; kept {len(rows)} of 70 rows in {out}"
    )


# PySide6 6.12 deprecates the QPoint constructor that older versions alone accept.
qpoint_drag_event = pytest.mark.filterwarnings(
    "ignore:Function.*QDragEnterEvent:DeprecationWarning"
)


def drop(window, paths) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, event)


@qpoint_drag_event
def test_dropping_a_model_and_a_folder_opens_both(qtbot, window, model_file, images):
    with qtbot.waitSignal(window.analysisReady, timeout=WAIT_MS):
        drop(window, [model_file, images[0].parent])
    assert window.model_summary.path == model_file
    assert window.filmstrip.paths() == images
    assert window.result.path == images[0]


@qpoint_drag_event
def test_dropping_something_unusable_says_what_can_be_dropped(qtbot, window, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with qtbot.waitSignal(window.errorShown, timeout=WAIT_MS) as blocker:
        drop(window, [text])
    assert "notes.txt: not an image, a folder or a model" in blocker.args[0]


def test_arrow_keys_walk_the_filmstrip(qtbot, loaded, images):
    loaded.filmstrip.setFocus()
    with qtbot.waitSignal(loaded.analysisReady, timeout=WAIT_MS):
        QTest.keyClick(loaded.filmstrip, Qt.Key.Key_Right)
    assert loaded.result.path == images[1]
    loaded.image_view.canvas.setFocus()
    with qtbot.waitSignal(loaded.analysisReady, timeout=WAIT_MS):
        QTest.keyClick(loaded.image_view.canvas, Qt.Key.Key_Right)
    assert loaded.result.path == images[2]


def test_a_bad_image_is_reported_and_the_last_analysis_stays(qtbot, loaded, tmp_path, images):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with qtbot.waitSignal(loaded.errorShown, timeout=WAIT_MS) as blocker:
        loaded.open_image(bad)
    message = blocker.args[0]
    assert str(bad) in message and "not an image" in message and "\n" not in message
    assert loaded.error_text() == message
    assert loaded.result.path == images[0]
    with qtbot.waitSignal(loaded.analysisReady, timeout=WAIT_MS):
        loaded.open_image(images[1])  # and the app keeps working
    assert loaded.error_text() == ""


def test_an_unsupported_checkpoint_is_reported_and_the_model_stays(qtbot, loaded, tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with qtbot.waitSignal(loaded.errorShown, timeout=WAIT_MS) as blocker:
        loaded.load_model(junk)
    assert str(junk) in blocker.args[0] and "\n" not in blocker.args[0]
    assert loaded.model_summary.name == "tiny"
    wait_idle(qtbot, loaded)
    assert loaded.result.analysis.model_name == "tiny"


@pytest.fixture
def uncounted_heads_file(tmp_path):
    return uncounted_heads_checkpoint(tmp_path / "narrow_vit.pth")


def test_a_head_count_the_file_does_not_record_is_asked_for(qtbot, loaded, uncounted_heads_file,
                                                            monkeypatch):
    asked = []

    def answer(_parent, request):
        asked.append(request)
        return 4

    monkeypatch.setattr("vit_studio.gui.questions.ask_head_count", answer)
    with qtbot.waitSignal(loaded.analysisReady, timeout=WAIT_MS):
        loaded.load_model(uncounted_heads_file)
    [request] = asked
    assert request.hidden_dim == 128 and request.choices[:5] == (1, 2, 4, 8, 16)
    assert request.suggestion() == 2  # heads of 64 are the usual guess: the user decides
    assert loaded.model_summary.arch.num_heads == 4
    assert loaded.model_panel.field("architecture").startswith(
        "1 layers × 4 heads (given by you)"
    )
    # The fine-tune panel, which follows the explorer's model, takes the answer without asking.
    form = loaded.finetune_panel.form
    qtbot.waitUntil(lambda: form.base_arch() is not None and form.base_arch().hidden_dim == 128,
                    timeout=WAIT_MS)  # fmt: skip
    assert form.base_arch().num_heads == 4 and form.session.base_num_heads == 4
    assert len(asked) == 1


def test_declining_the_head_count_keeps_the_model_and_says_why(qtbot, loaded, uncounted_heads_file,
                                                               monkeypatch):
    monkeypatch.setattr("vit_studio.gui.questions.ask_head_count", lambda _parent, _request: None)
    with qtbot.waitSignal(loaded.errorShown, timeout=WAIT_MS) as blocker:
        loaded.load_model(uncounted_heads_file)
    assert "does not record its number of attention heads" in blocker.args[0]
    assert loaded.model_summary.name == "tiny"
    wait_idle(qtbot, loaded)
    assert not loaded.state.model_pending


def test_switching_device_moves_the_model_and_analyses_again(qtbot, loaded, settings):
    with qtbot.waitSignal(loaded.analysisReady, timeout=WAIT_MS):
        loaded.set_device("cpu")
    assert loaded.model_summary.device == "cpu"
    assert loaded.result.device == "cpu"
    assert settings.device == "cpu"
    assert loaded.menus.device_chooser.currentData() == "cpu"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_switching_to_cuda_and_back(qtbot, loaded):
    with qtbot.waitSignal(loaded.analysisReady, timeout=WAIT_MS):
        loaded.set_device("cuda")
    assert loaded.result.device.startswith("cuda")
    assert loaded.model_summary.device_label.startswith("CUDA")
    with qtbot.waitSignal(loaded.analysisReady, timeout=WAIT_MS):
        loaded.set_device("cpu")
    assert loaded.result.device == "cpu"


def out_of_memory(*_args, **_kwargs):
    raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_running_out_of_gpu_memory_in_an_analysis_is_reported(qtbot, loaded, images,
                                                              monkeypatch):
    monkeypatch.setattr("vit_studio.gui.workers.model_owner.analyze", out_of_memory)
    with qtbot.waitSignal(loaded.errorShown, timeout=WAIT_MS) as blocker:
        loaded.open_image(images[1])
    assert blocker.args[0].startswith("out of GPU memory while analysing img1.png")
    assert loaded.result.path == images[0]


def test_running_out_of_gpu_memory_moving_the_model_keeps_it_where_it_was(qtbot, loaded,
                                                                          settings, monkeypatch):
    move = StudioModel.to

    def to(self, device):
        if torch.device(device).type == "cuda":
            out_of_memory()
        return move(self, device)

    monkeypatch.setattr(StudioModel, "to", to)
    monkeypatch.setattr("vit_studio.gui.workers.model_owner.resolve_device", torch.device)
    with qtbot.waitSignal(loaded.errorShown, timeout=WAIT_MS) as blocker:
        loaded.set_device("cuda")
    assert blocker.args[0].startswith("out of GPU memory while moving tiny.safetensors to cuda")
    assert settings.device == "cpu"  # the choice before the failed switch
    assert loaded.model_summary.device == "cpu"


def test_an_unexpected_failure_is_one_line(qtbot, loaded, images, monkeypatch):
    def broken(*_args, **_kwargs):
        raise ValueError("first line\nsecond line")

    monkeypatch.setattr("vit_studio.gui.workers.model_owner.analyze", broken)
    with qtbot.waitSignal(loaded.errorShown, timeout=WAIT_MS) as blocker:
        loaded.open_image(images[1])
    assert blocker.args[0] == (
        "unexpected error while analysing img1.png: ValueError: first line"
    )


def test_settings_persist_across_windows(qtbot, settings_file, model_file, images):
    first = open_window(qtbot, make_settings(settings_file))
    with qtbot.waitSignal(first.analysisReady, timeout=WAIT_MS):
        first.load_model(model_file)
        first.open_image(images[1])
    first.image_view.set_opacity(0.3)
    first.image_view.set_grid_visible(False)
    first.rollout_controls.set_settings(RolloutSettings("plain", "min", 0.25, 1))
    first.state.select_head(0, 1)
    first.close()
    assert first.shutdown()

    settings = make_settings(settings_file)
    assert settings.last_model == model_file
    assert settings.recent_files[0] == images[1]
    assert settings.last_folder == images[1].parent
    second = open_window(qtbot, settings)
    try:
        assert second.image_view.opacity() == pytest.approx(0.3)
        assert not second.image_view.grid_visible()
        assert second.rollout_controls.settings().head_fusion == "min"
        assert second.overlay_kind() == "attention"
    finally:
        second.close()
        assert second.shutdown()


def test_the_recent_files_menu_lists_what_was_opened_newest_first(qtbot, loaded, images):
    menus = loaded.menus
    with qtbot.waitSignal(loaded.analysisReady, timeout=WAIT_MS):
        loaded.open_image(images[1])
    menus.fill_recent_menu()
    assert [a.text() for a in menus.recent_menu.actions()][:2] == [images[1].name, images[0].name]
    with qtbot.waitSignal(loaded.analysisReady, timeout=WAIT_MS):
        menus.recent_menu.actions()[1].trigger()
    assert loaded.result.path == images[0]


def test_the_samples_menu_lists_the_sample_photos_and_opens_them(qtbot, loaded, tmp_path,
                                                                 monkeypatch):
    samples = [write_image(tmp_path / "samples" / name) for name in ("b.jpg", "a.png")]
    monkeypatch.setattr("vit_studio.engine.resources.SAMPLES_DIR", tmp_path / "samples")
    menus = loaded.menus
    menus.fill_samples_menu()
    texts = [action.text() for action in menus.samples_menu.actions()]
    assert texts == ["a.png", "b.jpg", "", "Open All Samples as a Folder"]
    with qtbot.waitSignal(loaded.analysisReady, timeout=WAIT_MS):
        menus.samples_menu.actions()[1].trigger()
    assert loaded.result.path == samples[0]
    monkeypatch.setattr("vit_studio.engine.resources.SAMPLES_DIR", tmp_path / "nowhere")
    menus.fill_samples_menu()
    [none] = menus.samples_menu.actions()
    assert none.text() == "None yet" and not none.isEnabled()


def test_a_folder_without_images_is_reported(qtbot, window, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with qtbot.waitSignal(window.errorShown, timeout=WAIT_MS) as blocker:
        window.open_folder(empty)
    assert "no images directly inside it" in blocker.args[0]


def test_numpy_blas_is_single_threaded_so_maps_do_not_fight_the_worker(window):
    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas and set(blas) == {1}
