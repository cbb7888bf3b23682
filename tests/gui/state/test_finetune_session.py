"""The fine-tune panel's session, driven as a script would drive it, with no window and no Qt:
what it asks the training thread for, and what it holds once the thread answers."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TINY_ARCH
from tests.engine.training.test_plan import fake_scan
from vit_studio.engine.checkpoints import CheckpointInfo
from vit_studio.engine.training import EpochInfo, RunStatus, TrainConfig, TrainPaths, TrainResult
from vit_studio.engine.training.plan import plan_finetune
from vit_studio.engine.training.start import StartingPoint
from vit_studio.gui.state.finetune import FinetuneSession
from vit_studio.gui.state.finetune_phases import Job, PanelState
from vit_studio.gui.state.finetune_results import (
    EpochSnapshot,
    Probe,
    RunStarted,
    ScanResult,
    ValidationSet,
)
from vit_studio.gui.state.results import HeadCountRequest

FOLDER = Path("pets")
BASE = Path("base.safetensors")
INFO = CheckpointInfo(path=BASE, format="vit_studio", name="tiny", arch=TINY_ARCH)
CLASSES = tuple(f"class{k}" for k in range(10))


class Recorder:
    """Every event `session` emits, in order, as (name, *args)."""

    NAMES = (
        "scan_requested", "inspect_requested", "run_requested", "pause_requested",
        "continue_requested", "cancel_requested", "save_requested", "open_requested",
        "phase_changed", "ready_changed", "scrubbed", "error_changed", "head_count_needed",
    )  # fmt: skip

    def __init__(self, session: FinetuneSession) -> None:
        self.events: list[tuple] = []
        for name in self.NAMES:
            getattr(session, name).connect(lambda *args, n=name: self.events.append((n, *args)))

    def named(self, name: str) -> list[tuple]:
        return [event[1:] for event in self.events if event[0] == name]


@pytest.fixture
def session(tmp_path: Path) -> FinetuneSession:
    return FinetuneSession(tmp_path / "runs", device="cpu")


def ready(session: FinetuneSession, per_class: int = 80) -> FinetuneSession:
    """A folder scanned and a base model read: a plan to run."""
    session.set_base_model(BASE)
    session.inspected(INFO)
    session.choose_folder(FOLDER)
    session.scanned(ScanResult(FOLDER, fake_scan(per_class)))
    return session


def validation(names=("a.png", "b.png")) -> ValidationSet:
    return ValidationSet(CLASSES, np.zeros((len(names), 4, 4, 3), np.uint8),
                         np.arange(len(names)), tuple(Path(n) for n in names))  # fmt: skip


def run_started(names=("a.png", "b.png"), history=()) -> RunStarted:
    return RunStarted(
        scan=fake_scan(8), config=TrainConfig(epochs=6), paths=TrainPaths.beside(Path("m.st")),
        class_names=CLASSES, train_images=80, validation=validation(names),
        probe=Probe(Path("a.png"), 0, np.zeros((8, 8, 3), np.uint8)), history=history,
        skipped=(), command="vit-studio finetune pets", pixel_baseline=0.25, base_model=BASE,
    )  # fmt: skip


def snapshot(epoch: int) -> EpochSnapshot:
    info = None
    if epoch:
        info = EpochInfo(epoch, 6, 1.0, 0.5, 1.0, 0.5, None, 1e-3, 1.0, 10.0, False)
    return EpochSnapshot(epoch, info, np.full((2, 10), 0.1), np.eye(10, dtype=np.int64),
                         np.zeros((2, 2, 2, 2)), np.zeros((2, 2)), np.full(10, 0.1))  # fmt: skip


def result(status=RunStatus.COMPLETED, best_epoch=2) -> TrainResult:
    start = StartingPoint(base_acc=None, probe_acc=0.6, chosen="probe")
    return TrainResult(status, 3, 0.8, best_epoch, (), None, 12.0, start)


def test_a_folder_and_a_base_model_give_the_plan_of_the_data(session):
    events = Recorder(session)
    session.set_base_model(BASE)
    assert events.named("inspect_requested") == [(BASE, None)]
    session.choose_folder(FOLDER)
    assert events.named("scan_requested") == [(FOLDER, 0.2)]
    assert session.phase == PanelState.SCANNING and session.plan is None
    session.inspected(INFO)
    session.scanned(ScanResult(FOLDER, fake_scan(80)))
    assert session.phase == PanelState.READY and session.can_start()
    assert session.plan == plan_finetune(fake_scan(80), TINY_ARCH)  # the CLI's own rule
    assert events.named("ready_changed") == [(True,)]
    assert "about 400 steps" in session.default_reasons["epochs"]


def test_a_setting_the_user_sets_is_kept_and_the_ones_that_follow_it_follow(session):
    ready(session)
    session.set_setting("batch_size", 16)
    assert session.plan.config.batch_size == 16 and session.chosen == {"batch_size": 16}
    expected = plan_finetune(fake_scan(80), TINY_ARCH, batch_size=16)
    assert session.plan.config.lr == expected.config.lr
    session.reset_settings()
    assert session.chosen == {} and session.plan.config.batch_size == 64


def test_another_validation_share_scans_the_folder_again(session):
    events = Recorder(session)
    ready(session)
    session.set_setting("val_share", 0.3)
    assert events.named("scan_requested")[-1] == (FOLDER, 0.3)
    assert session.phase == PanelState.SCANNING and not session.can_start()


def test_a_blocked_folder_cannot_be_started(session):
    events = Recorder(session)
    session.set_base_model(BASE)
    session.inspected(INFO)
    session.choose_folder(FOLDER)
    session.scanned(ScanResult(FOLDER, None, "needs at least 2 class subfolders"))
    assert session.phase == PanelState.BLOCKED and not session.can_start()
    session.start()
    assert events.named("run_requested") == [] and "choose a usable folder" in session.error


def test_start_asks_for_a_run_of_the_plan_in_a_folder_of_its_own(session, tmp_path):
    events = Recorder(session)
    ready(session)
    session.start()
    (request,) = [args[0] for args in events.named("run_requested")]
    assert request.folder == FOLDER and request.base_model == BASE and not request.resume
    assert request.out.parent.parent == tmp_path / "runs" and request.out.name == "pets.safetensors"
    assert request.settings == session.plan.values() | {"device": "cpu"}
    assert session.phase == PanelState.PREPARING and not session.can_start()
    session.choose_folder(Path("other"))  # not while a run holds the folder
    assert session.folder == FOLDER and "cancel it before choosing" in session.error


def test_the_scrubbed_epoch_follows_the_newest_until_the_user_looks_back(session):
    events = Recorder(session)
    ready(session)
    session.start()
    session.started(run_started())
    assert session.phase == PanelState.TRAINING
    for epoch in range(3):
        session.epoch_done(snapshot(epoch))
    assert session.scrubbed_epoch == 2 and events.named("scrubbed") == [(0,), (1,), (2,)]
    session.scrub_to(1)
    session.epoch_done(snapshot(3))
    assert session.scrubbed_epoch == 1  # the user looks back: the newest does not pull it on
    session.scrub_to(7)  # no such epoch kept
    assert session.scrubbed_epoch == 1 and [s.epoch for s in session.snapshots] == [0, 1, 2, 3]


def test_a_resumed_run_keeps_the_epochs_before_it_and_retakes_the_one_it_resumes(session):
    ready(session)
    session.start()
    session.started(run_started())
    for epoch in range(5):
        session.epoch_done(snapshot(epoch))
    session.cancel()
    assert session.phase == PanelState.STOPPING
    session.ended(result(RunStatus.CANCELLED))
    assert session.phase == PanelState.CANCELLED
    session.run_paths.checkpoint.parent.mkdir(parents=True)
    session.run_paths.checkpoint.write_bytes(b"checkpoint after epoch 3")
    assert session.resumable
    session.resume_run()
    session.started(run_started(history=()))
    kept = list(session.snapshots)
    resumed = snapshot(3)
    session.epoch_done(resumed)  # the checkpoint was written after epoch 3
    assert session.snapshots == [*kept[:3], resumed]  # epoch 4 of the cancelled attempt is gone


def test_a_resumed_run_on_other_validation_images_starts_the_epochs_afresh(session):
    ready(session)
    session.start()
    session.started(run_started())
    for epoch in range(3):
        session.epoch_done(snapshot(epoch))
    session.ended(result(RunStatus.CANCELLED))
    session.run_paths.checkpoint.parent.mkdir(parents=True)
    session.run_paths.checkpoint.write_bytes(b"checkpoint")
    session.resume_run()
    # Earlier predictions index the earlier images: listed with the new ones they would lie.
    session.started(run_started(names=("a.png", "c.png")))
    assert session.snapshots == [] and session.scrubbed_epoch is None


def test_a_run_that_stops_improving_is_finished_and_one_cut_short_can_be_resumed(session):
    ready(session)
    for status, phase in (
        (RunStatus.EARLY_STOPPED, PanelState.FINISHED),
        (RunStatus.COMPLETED, PanelState.FINISHED),
        (RunStatus.TIME_BUDGET, PanelState.CANCELLED),
    ):
        session.start()
        session.started(run_started())
        session.ended(result(status))
        assert session.phase == phase and session.status.startswith(f"Run {status.outcome}")


def test_the_model_a_run_started_from_is_never_replaced_by_its_copy(session, tmp_path):
    events = Recorder(session)
    ready(session)
    session.start()
    session.started(run_started())
    session.run_paths.model.parent.mkdir(parents=True)
    session.run_paths.model.write_bytes(b"model")
    session.ended(result())
    session.save_model_as(BASE)
    assert events.named("save_requested") == [] and "fine-tuned from" in session.error
    session.save_model_as(tmp_path / "mine.safetensors")
    assert events.named("save_requested") == [(session.model_path, tmp_path / "mine.safetensors")]


def test_a_failed_run_shows_its_error_and_a_failed_base_model_leaves_no_plan(session):
    ready(session)
    session.start()
    session.failed(Job.RUN, "disk full: free space")
    assert session.phase == PanelState.FAILED and session.error == "disk full: free space"
    session.failed(Job.BASE, "not a ViT")
    assert session.base_info is None and session.plan is None and not session.can_start()


def test_a_base_model_without_a_head_count_is_asked_and_read_again_with_it(session):
    events = Recorder(session)
    request = HeadCountRequest(BASE, 192, (1, 2, 3, 4), "how many heads?")
    session.set_base_model(BASE)
    session.head_count_asked(request)
    assert events.named("head_count_needed") == [(request,)]
    session.set_base_model(BASE, 3)
    assert events.named("inspect_requested")[-1] == (BASE, 3) and session.base_num_heads == 3


def test_the_session_needs_no_qt():
    script = (
        "import sys, vit_studio.gui.state.finetune; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'PySide6', 'shiboken6'}))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True, timeout=120)  # fmt: skip
    assert done.stdout.strip() == "[]"


def test_two_runs_started_within_a_second_get_folders_of_their_own(session, monkeypatch):
    monkeypatch.setattr(time, "strftime", lambda _format: "20261207-120000")  # one second
    events = Recorder(session)
    ready(session)
    session.start()
    first = events.named("run_requested")[-1][0].out
    first.parent.mkdir(parents=True)  # the thread has begun writing the first run
    session.ended(None)
    session.start()
    second = events.named("run_requested")[-1][0].out
    assert (first.parent.name, second.parent.name) == (
        "pets-20261207-120000",
        "pets-20261207-120000-2",
    )
