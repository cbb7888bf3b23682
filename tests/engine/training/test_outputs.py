"""A run says how it ended on the last line of its metrics; a run without that line was killed,
and is found again to be offered for resuming until it is resumed or set aside."""

from __future__ import annotations

import json

from tests.engine.training.helpers import colour_images, config, fresh, stop_after_epoch
from vit_studio.engine.training import train
from vit_studio.engine.training.outputs import interrupted_runs, set_aside


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_ending_is_the_last_metrics_line_and_a_killed_run_has_none(tmp_path):
    done = tmp_path / "runs" / "done" / "m.safetensors"
    result = train(fresh(), colour_images(16), None, config(epochs=1), out=done)
    last = lines(result.paths.metrics)[-1]
    assert last == {"kind": "end", "status": "completed", "epochs_completed": 1}
    cancelled = tmp_path / "runs" / "cancelled" / "m.safetensors"
    callbacks, cancel = stop_after_epoch(1)
    train(fresh(), colour_images(16), None, config(epochs=3), out=cancelled,
          callbacks=callbacks, cancel=cancel)  # fmt: skip
    assert lines(cancelled.with_name("m.metrics.jsonl"))[-1]["status"] == "cancelled"
    assert interrupted_runs(tmp_path / "runs") == []  # both ended, one way or another

    killed = tmp_path / "runs" / "killed" / "m.safetensors"
    train(fresh(), colour_images(16), None, config(epochs=2), out=killed)
    metrics = killed.with_name("m.metrics.jsonl")
    metrics.write_text("\n".join(metrics.read_text().splitlines()[:-1]) + "\n")  # as a kill
    (run,) = interrupted_runs(tmp_path / "runs")
    assert run.checkpoint == killed.with_name("m.checkpoint.pt") and run.epochs_completed == 2
    set_aside(run)
    assert interrupted_runs(tmp_path / "runs") == [] and run.checkpoint.is_file()
    assert lines(metrics)[-1]["status"] == "set aside" and len(lines(metrics)) == 3
