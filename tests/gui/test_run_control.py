"""The fine-tune worker's parts: pause and cancel across threads, honest rates and ETAs, and
failures told in one line that says whether the run can be resumed."""

from __future__ import annotations

import errno
import threading

import torch

from vit_studio.engine.errors import StudioError
from vit_studio.engine.training import StepInfo, TrainConfig, TrainPaths
from vit_studio.gui.finetune.worker import RunControl, _Pacer, describe_run_failure


def test_poll_blocks_while_paused_until_continue():
    control = RunControl()
    control.pause()
    answers = []
    trainer = threading.Thread(target=lambda: answers.append(control.poll()))
    trainer.start()
    while not control.waiting:
        trainer.join(0.001)
    assert trainer.is_alive() and not answers
    control.resume()
    trainer.join(5)
    assert answers == [False] and control.paused_seconds > 0


def test_cancel_wakes_a_paused_trainer_and_stops_it():
    control = RunControl()
    control.pause()
    answers = []
    trainer = threading.Thread(target=lambda: answers.append(control.poll()))
    trainer.start()
    while not control.waiting:
        trainer.join(0.001)
    control.cancel()
    trainer.join(5)
    assert answers == [True]
    control.reset()
    assert control.poll() is False and control.paused_seconds == 0


def test_rates_and_time_left_leave_out_the_time_spent_paused(monkeypatch):
    clock = iter([100.0, 110.0, 130.0])  # start, first report, second report
    monkeypatch.setattr("vit_studio.gui.finetune.worker.time.monotonic", lambda: next(clock))
    control = RunControl()
    pacer = _Pacer(control, TrainConfig(epochs=2, batch_size=10), images=100, first_epoch=0)

    def step(n):
        return StepInfo(epoch=1, epochs=2, step=n, steps_per_epoch=10, loss=1.0, acc=0.5,
                        lr=1e-3, images_per_s=0.0, eta_s=0.0)  # fmt: skip

    first = pacer.adjust(step(5))  # 5 steps of 10 images in 10 s
    assert first.images_per_s == 5.0 and first.eta_s == 30.0
    control._paused_seconds = 15.0  # of the next 20 s, 15 were spent paused
    second = pacer.adjust(step(10))
    assert second.images_per_s == 10.0 and second.eta_s == 15.0


def test_failures_say_what_to_do_and_whether_the_checkpoint_is_kept(tmp_path):
    paths = TrainPaths.beside(tmp_path / "m.safetensors")
    full = RuntimeError("[enforce fail] PytorchStreamWriter failed writing file: file write failed")
    assert describe_run_failure(full, "training", paths) == (
        "the disk is full while training; free some space"
    )
    paths.checkpoint.write_bytes(b"a checkpoint")
    message = describe_run_failure(OSError(errno.ENOSPC, "No space left"), "training", paths)
    assert message == (
        "the disk is full while training; free some space — the last checkpoint "
        "(m.checkpoint.pt) is kept: Resume continues it"
    )
    memory = RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB")
    assert describe_run_failure(memory, "training", None).startswith(
        "out of memory while training; lower the batch size or the image size"
    )
    assert describe_run_failure(torch.cuda.OutOfMemoryError("CUDA"), "training", None).startswith(
        "out of memory while training"
    )
    assert describe_run_failure(StudioError("a user error; fix it"), "training", None) == (
        "a user error; fix it"
    )
