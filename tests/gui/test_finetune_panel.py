"""Fine-tuning from the GUI, the whole flow on a small generated folder: the scan report, a run
with live progress, pause, cancel and resume, the confusion matrix, saving, failures."""

from __future__ import annotations

import contextlib
import errno
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QToolButton

from tests.conftest import uncounted_heads_checkpoint, write_image
from tests.gui.conftest import WAIT_MS, run_to_end
from tests.test_cli_train import COLOURS
from vit_studio.engine.model import load_studio_model
from vit_studio.engine.text import counted
from vit_studio.engine.training import load_checkpoint
from vit_studio.gui.finetune.panel import FinetunePanel
from vit_studio.gui.state.finetune_phases import PanelState
from vit_studio.gui.widgets.banner import Banner
from vit_studio.gui.workers import snapshots


def test_choosing_a_folder_shows_its_report_and_settings_from_the_data(ready):
    report = ready.report
    assert "3 classes, 30 training and 6 validation images" in report.summary()
    assert report.chart.bar_count() == 2 * len(COLOURS)  # training and validation per class
    skipped = report.skipped.topLevelItem(0)
    assert skipped.text(0) == "1 unusable file skipped"
    assert (skipped.child(0).text(0), skipped.child(0).text(1)) == ("blue/broken.png", "truncated")
    assert ready.state() == PanelState.READY and ready.current_page() == "data"
    values = ready.form.values()
    # 30 training images: batches of 8, 3 steps an epoch, 60 epochs (at most); 10 a class: all
    assert (values["epochs"], values["batch_size"], values["freeze"]) == (60, 8, "none")
    assert "about 400 steps" in ready.form.tooltip("epochs")
    assert "5e-4 × batch/128 when only the head trains" in ready.form.tooltip("lr")


def scan_blocked(qtbot, panel, base_model, folder):
    """Choose `folder`, which cannot be trained on, with a base model ready."""
    panel.set_explorer_model(base_model, "tiny")
    with qtbot.waitSignal(panel.scanned, timeout=WAIT_MS):
        panel.choose_folder(folder)
    assert panel.state() == PanelState.BLOCKED
    assert not panel.can_start() and not panel.run_bar.start.isEnabled()
    return panel.report


def test_a_folder_with_one_class_shows_what_it_holds_and_how_to_fix_it(
    qtbot, panel, base_model, tmp_path
):
    for i in range(3):
        write_image(tmp_path / "pets" / "cats" / f"{i}.png", seed=i)
    write_image(tmp_path / "pets" / "stray.png")  # beside the class folders: ignored
    report = scan_blocked(qtbot, panel, base_model, tmp_path / "pets")
    assert "needs at least 2 class subfolders (found only 'cats')" in report.problem()
    assert "put each class's images in its own subfolder" in report.problem()
    assert "It holds 1 class with 3 images" in report.summary()
    assert report.chart.bar_count() == 2 and report.chart.marked_classes() == ()
    assert report.skipped.topLevelItem(0).text(0) == "1 other entry ignored"


def test_a_class_with_one_usable_image_is_marked_beside_its_skipped_file(
    qtbot, panel, base_model, tmp_path
):
    for i in range(4):
        write_image(tmp_path / "pets" / "cats" / f"{i}.png", seed=i)
    write_image(tmp_path / "pets" / "dogs" / "0.png")
    (tmp_path / "pets" / "dogs" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    report = scan_blocked(qtbot, panel, base_model, tmp_path / "pets")
    assert "class 'dogs' has 1, after skipping 1 unusable file" in report.problem()
    assert "add images to that class folder or remove the class" in report.problem()
    assert report.chart.bar_count() == 4  # training and validation for both classes
    assert report.chart.marked_classes() == ("dogs",)
    assert "too few images" in [text.get_text() for text in report.chart.axes.texts]
    files = report.skipped.topLevelItem(0)
    assert files.text(0) == "1 unusable file skipped"
    assert (files.child(0).text(0), files.child(0).text(1)) == ("dogs/1.png", "truncated")


def test_a_missing_folder_is_explained_without_a_chart(qtbot, panel, base_model, tmp_path):
    report = scan_blocked(qtbot, panel, base_model, tmp_path / "nowhere")
    assert "does not exist" in report.problem()
    assert report.chart.bar_count() == 0 and not report.skipped.isVisibleTo(report)


def test_fixing_a_blocked_folder_and_rescanning_makes_it_ready(qtbot, panel, base_model, tmp_path):
    for i in range(3):
        write_image(tmp_path / "pets" / "cats" / f"{i}.png", seed=i)
    scan_blocked(qtbot, panel, base_model, tmp_path / "pets")
    for i in range(3):
        write_image(tmp_path / "pets" / "dogs" / f"{i}.png", seed=10 + i)
    with qtbot.waitSignal(panel.readyChanged, timeout=WAIT_MS, check_params_cb=bool):
        panel.rescan()
    assert panel.report.problem() == "" and panel.report.chart.marked_classes() == ()


def test_a_run_reports_its_progress_and_ends_with_a_model_of_the_folder_classes(
    qtbot, ready, monkeypatch
):
    rescored = []  # the panel reuses the engine's validation instead of scoring again
    monkeypatch.setattr(snapshots, "evaluate", lambda *a, **k: rescored.append(1))
    stages, steps, epochs = [], [], []
    ready.client.stage.connect(lambda what, done, total: stages.append(what))
    ready.client.stepDone.connect(steps.append)
    ready.epochShown.connect(epochs.append)
    result = run_to_end(qtbot, ready, epochs=3)

    assert result.status == "completed" and result.epochs_completed == 3
    assert {"checking images", "loading images at 32 px"} <= set(stages)
    assert steps and steps[-1].epoch == 3 and steps[-1].images_per_s > 0
    assert [s.epoch for s in epochs] == [0, 1, 2, 3]  # 0: the prepared model before training
    assert epochs[-1].confusion.sum() == 6  # every validation image, once
    # The matrix is the engine's own validation, so it agrees with the reported accuracy.
    assert np.trace(epochs[-1].confusion) / 6 == pytest.approx(epochs[-1].info.val_acc)
    assert rescored == []
    assert ready.curves.epoch_count() == 3 and ready.curves.step_count() == len(steps)
    assert ready.state() == PanelState.FINISHED and ready.current_page() == "result"
    assert ready.status_text().startswith("Run completed after 3 epochs in ")
    assert "Finished" in ready.results.summary() and ready.results.open_button.isEnabled()
    baseline = ready.run_info.pixel_baseline
    assert 0.0 <= baseline <= 1.0 and ready.curves.baseline() == pytest.approx(baseline)
    assert f"pixels alone {baseline:.1%}" in ready.results.summary()
    # What was decided, and measured, on the folder: the CLI's explanation.
    assert "flip: auto: " in ready.results.settings_text()
    start = ready.result.start  # the random base has no classes of the folder: a probe head
    assert f"a probe on its frozen features {start.probe_acc:.1%}" in ready.results.summary()
    model = load_studio_model(ready.model_path())
    assert model.meta.class_names == COLOURS and model.meta.name == "colours"
    command = model.meta.provenance["command"]
    assert command.startswith("vit-studio finetune ") and "--epochs 3 " in command


def test_pause_holds_the_run_between_steps_and_continue_finishes_it(qtbot, ready):
    ready.form.set_value("epochs", 20)
    ready.form.set_value("patience", 0)  # every epoch runs
    with qtbot.waitSignal(ready.client.stepDone, timeout=WAIT_MS):
        ready.start()
    ready.pause()
    qtbot.waitUntil(lambda: ready.client.control.waiting, timeout=WAIT_MS)
    qtbot.wait(1)  # deliver the reports sent before the trainer stopped
    assert ready.state() == PanelState.PAUSED and ready.run_bar.pause.text() == "Continue"
    reports = ready.curves.step_count()
    qtbot.wait(50)
    assert ready.curves.step_count() == reports  # nothing moves while paused
    with qtbot.waitSignal(ready.runEnded, timeout=WAIT_MS) as ended:
        ready.continue_run()
    assert ended.args[0].status == "completed" and ended.args[0].epochs_completed == 20


@contextlib.contextmanager
def cancelling_after_first_epoch(panel):
    """Cancel the run once epoch 1 is shown, and only the run started inside the block: a
    resumed run afterwards must not be cancelled too."""

    def cancel(snapshot):
        if snapshot.epoch == 1:
            panel.cancel()

    panel.epochShown.connect(cancel)
    try:
        yield
    finally:
        panel.epochShown.disconnect(cancel)


def test_cancel_keeps_the_last_checkpoint_and_resume_finishes_the_run(qtbot, ready):
    ready.form.set_value("epochs", 20)
    ready.form.set_value("patience", 0)  # every epoch runs
    with cancelling_after_first_epoch(ready), qtbot.waitSignal(
        ready.runEnded, timeout=WAIT_MS
    ) as ended:
        ready.start()
    stopped = ended.args[0]
    assert stopped.status == "cancelled" and 1 <= stopped.epochs_completed < 20
    assert ready.state() == PanelState.CANCELLED
    checkpoint = load_checkpoint(ready.run_paths.checkpoint)
    assert checkpoint.epoch == stopped.epochs_completed
    assert ready.run_bar.resume.isEnabled() and ready.results.save_button.isEnabled()

    with qtbot.waitSignal(ready.runEnded, timeout=WAIT_MS) as ended:
        ready.resume_run()
    finished = ended.args[0]
    assert finished.status == "completed" and finished.epochs_completed == 20
    assert [e.epoch for e in finished.history] == list(range(1, 21))
    assert ready.curves.epoch_count() == 20  # the epochs before the cancel come from the checkpoint


def cancel_after_first_epoch(qtbot, panel, epochs: int = 20):
    """Start a run and cancel it after its first epoch; returns its TrainResult."""
    panel.form.set_value("epochs", epochs)
    panel.form.set_value("patience", 0)  # every epoch runs
    with cancelling_after_first_epoch(panel), qtbot.waitSignal(
        panel.runEnded, timeout=WAIT_MS
    ) as ended:
        panel.start()
    assert ended.args[0].status == "cancelled"
    return ended.args[0]


def test_the_slider_spans_a_run_cancelled_and_resumed_in_the_same_session(qtbot, ready):
    stopped = cancel_after_first_epoch(qtbot, ready)
    before = ready.scrubber.snapshots()
    with qtbot.waitSignal(ready.runEnded, timeout=WAIT_MS):
        ready.resume_run()
    scrubber = ready.scrubber
    assert [s.epoch for s in scrubber.snapshots()] == list(range(21))
    # The epochs before the checkpoint are the views taken before the cancel, not lost.
    done = stopped.epochs_completed
    assert all(a is b for a, b in zip(scrubber.snapshots()[:done], before[:done], strict=True))
    assert scrubber.coverage() == ""
    scrubber.slider.setValue(0)
    assert scrubber.rollout.title() == "Attention rollout before training"


def test_a_new_run_after_a_cancelled_one_starts_the_slider_afresh(qtbot, ready):
    cancel_after_first_epoch(qtbot, ready)
    ready.form.set_value("epochs", 1)
    ready.form.set_value("patience", 0)  # every epoch runs
    with qtbot.waitSignal(ready.runEnded, timeout=WAIT_MS):
        ready.start()
        assert ready.scrubber.snapshots() == []  # at once, not when the new run's epochs come
    assert [s.epoch for s in ready.scrubber.snapshots()] == [0, 1]


@pytest.fixture
def next_session(qtbot, tmp_path):
    """Another panel, as the app opened again later: it never saw the first panel's runs."""
    panel = FinetunePanel(tmp_path / "later runs", num_threads=1, device="cpu")
    qtbot.addWidget(panel)
    yield panel
    assert panel.shutdown(), "the fine-tune thread did not stop"


def test_a_run_resumed_from_its_file_in_a_new_session_shows_the_epochs_it_has(
    qtbot, ready, next_session
):
    resumed_after = cancel_after_first_epoch(qtbot, ready).epochs_completed
    with qtbot.waitSignal(next_session.runEnded, timeout=WAIT_MS):
        next_session.resume_checkpoint(ready.run_paths.checkpoint)
    scrubber = next_session.scrubber
    assert [s.epoch for s in scrubber.snapshots()] == list(range(resumed_after, 21))
    scrubber.slider.setValue(scrubber.slider.minimum())
    assert scrubber.shown().epoch == resumed_after
    assert scrubber.coverage().startswith(
        f"Epochs {resumed_after} to 20 are kept: this run was resumed here after epoch "
        f"{resumed_after}"
    )


def click_cell(qtbot, view, true_class: int, predicted: int) -> None:
    """Click the middle of a confusion-matrix cell, as a user would."""
    view.canvas.draw()
    x, y = view.axes.transData.transform((predicted, true_class))
    ratio = view.canvas.device_pixel_ratio
    point = QPoint(round(x / ratio), round(view.canvas.height() - y / ratio))
    qtbot.mouseClick(view.canvas, Qt.MouseButton.LeftButton, pos=point)


def test_clicking_a_confusion_cell_lists_its_images_with_their_probabilities(qtbot, ready):
    run_to_end(qtbot, ready, epochs=2)
    ready.show_page("training")
    scrubber = ready.scrubber
    click_cell(qtbot, scrubber.confusion, 0, 0)
    snapshot = scrubber.shown()
    validation = ready.run_info.validation
    expected = validation.members(0, snapshot.predictions, 0)
    assert sorted(scrubber.cell_images.shown()) == sorted(expected.tolist())
    assert f"{counted(len(expected), 'validation image')} of 'blue' predicted correctly" in (
        scrubber.cell_images.title()
    )
    captions = [scrubber.cell_images.list.item(k).text() for k in range(len(expected))]
    assert all(caption.endswith("%") for caption in captions)


def test_the_slider_scrubs_back_to_earlier_epochs(qtbot, ready):
    run_to_end(qtbot, ready, epochs=2)
    scrubber = ready.scrubber
    assert [s.epoch for s in scrubber.snapshots()] == [0, 1, 2]
    assert scrubber.shown().epoch == 2
    scrubber.slider.setValue(0)
    assert scrubber.shown().epoch == 0
    assert scrubber.rollout.title() == "Attention rollout before training"
    # The starting model (the probe's head on the frozen features) is validated before training.
    start = ready.result.start
    counts = scrubber.confusion.counts()
    assert counts.sum() == 6 and np.trace(counts) / 6 == pytest.approx(start.probe_acc)
    assert np.allclose(scrubber.mosaic.similarity(), scrubber.snapshots()[0].pos_similarity)


def test_save_as_writes_our_format_with_the_class_names(qtbot, ready, tmp_path):
    run_to_end(qtbot, ready, epochs=1)
    target = tmp_path / "saved" / "my colours.safetensors"
    with qtbot.waitSignal(ready.modelSaved, timeout=WAIT_MS):
        ready.save_model_as(target)
    model = load_studio_model(target)
    assert model.meta.class_names == COLOURS and model.meta.name == "my colours"
    with qtbot.waitSignal(ready.openInExplorer, timeout=WAIT_MS) as opened:
        ready.open_in_explorer()
    assert opened.args == [target]


def test_a_full_disk_is_reported_and_the_last_checkpoint_survives(qtbot, ready, monkeypatch):
    real_save = torch.save
    calls = []

    def disk_full_on_second_checkpoint(obj, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(torch, "save", disk_full_on_second_checkpoint)
    ready.form.set_value("epochs", 3)
    ready.form.set_value("patience", 0)  # every epoch runs
    with qtbot.waitSignal(ready.errorShown, timeout=WAIT_MS) as shown:
        ready.start()
    message = shown.args[0]
    checkpoint = ready.run_paths.checkpoint
    assert message.startswith(f"{checkpoint}: the disk is full while writing the training "
                              "checkpoint; free some space")  # fmt: skip
    assert "the last checkpoint (colours.checkpoint.pt) is kept: Resume continues it" in message
    qtbot.waitUntil(lambda: not ready.client.running, timeout=WAIT_MS)
    assert ready.state() == PanelState.FAILED
    assert load_checkpoint(ready.run_paths.checkpoint).epoch == 1

    monkeypatch.setattr(torch, "save", real_save)
    with qtbot.waitSignal(ready.runEnded, timeout=WAIT_MS) as ended:
        ready.resume_run()
    assert ended.args[0].status == "completed" and ended.args[0].epochs_completed == 3


def test_a_run_resumes_from_its_checkpoint_file_on_the_folder_it_recorded(qtbot, ready):
    ready.form.set_value("epochs", 20)
    ready.form.set_value("patience", 0)  # every epoch runs
    with cancelling_after_first_epoch(ready), qtbot.waitSignal(ready.runEnded, timeout=WAIT_MS):
        ready.start()
    paths, folder = ready.run_paths, ready.run_info.scan.root

    with qtbot.waitSignal(ready.runEnded, timeout=WAIT_MS) as ended:
        ready.resume_checkpoint(paths.checkpoint)  # as Fine-tune ▸ Resume a Run… does
    assert ended.args[0].status == "completed" and ready.model_path() == paths.model
    assert ready.run_info.scan.root == folder


def test_a_base_model_without_its_head_count_is_asked_for_and_trained_with_it(
    qtbot, panel, class_folder, tmp_path, monkeypatch
):
    base = uncounted_heads_checkpoint(tmp_path / "narrow.pth")
    monkeypatch.setattr("vit_studio.gui.questions.ask_head_count", lambda _parent, _request: 4)
    with qtbot.waitSignal(panel.readyChanged, timeout=WAIT_MS, check_params_cb=bool):
        panel.choose_folder(class_folder)
        panel.set_base_model(base)
    assert panel.session.base_num_heads == 4
    result = run_to_end(qtbot, panel, epochs=1)
    assert result.status == "completed"
    model = load_studio_model(panel.model_path())
    assert model.arch.num_heads == 4  # recorded in the fine-tuned file from now on
    assert "--num-heads 4" in model.meta.provenance["command"]


def killed_run(qtbot, panel) -> Path:
    """A run of `panel` that ends as if its window had been killed after epoch 1: checkpoint and
    metrics are there, but no end line (a kill leaves none)."""
    with cancelling_after_first_epoch(panel), qtbot.waitSignal(panel.runEnded, timeout=WAIT_MS):
        panel.start()
    metrics = panel.run_paths.metrics
    lines = metrics.read_text().splitlines()
    assert json.loads(lines[-1])["kind"] == "end"  # a cancel is an end: it would not be offered
    metrics.write_text("\n".join(lines[:-1]) + "\n")
    return panel.run_paths.checkpoint


def reopened(qtbot, tmp_path) -> FinetunePanel:
    """A new panel on the same runs folder, as the next start of the window makes."""
    panel = FinetunePanel(tmp_path / "runs", num_threads=1, device="cpu")
    qtbot.addWidget(panel)
    return panel


def test_a_run_a_killed_window_left_is_offered_at_the_next_start_and_resumes(
    qtbot, ready, tmp_path
):
    ready.form.set_value("epochs", 3)
    ready.form.set_value("patience", 0)  # every epoch runs
    checkpoint = killed_run(qtbot, ready)
    panel = reopened(qtbot, tmp_path)
    try:
        banner = panel.findChild(Banner)
        qtbot.waitUntil(lambda: banner.action.isVisibleTo(panel), timeout=WAIT_MS)
        done = counted(load_checkpoint(checkpoint).epoch, "epoch")
        assert f"A fine-tune did not end: {checkpoint.parent.name}, after {done}." in banner.text()
        with qtbot.waitSignal(panel.runEnded, timeout=WAIT_MS) as ended:
            banner.action.click()
        assert ended.args[0].status == "completed" and panel.model_path() is not None
    finally:
        assert panel.shutdown()


def test_a_run_set_aside_with_the_cross_is_not_offered_again(qtbot, ready, tmp_path):
    ready.form.set_value("epochs", 3)
    ready.form.set_value("patience", 0)
    checkpoint = killed_run(qtbot, ready)
    first = reopened(qtbot, tmp_path)
    banner = first.findChild(Banner)
    qtbot.waitUntil(lambda: banner.action.isVisibleTo(first), timeout=WAIT_MS)
    banner.findChildren(QToolButton)[-1].click()  # ✕
    qtbot.waitUntil(lambda: not first.client.busy, timeout=WAIT_MS)
    assert first.shutdown() and checkpoint.is_file()  # kept for --resume all the same
    second = reopened(qtbot, tmp_path)
    qtbot.waitUntil(lambda: not second.client.busy, timeout=WAIT_MS)
    assert second.session.interrupted == [] and not second.findChild(Banner).isVisibleTo(second)
    assert second.shutdown()
