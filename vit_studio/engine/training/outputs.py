"""What a run writes beside its model: the best model so far, the resumable checkpoint, and the
metrics history, one JSON line per epoch (and optionally per step report), and a last line when
the run ends, saying how.

A new run writes its metrics file with its first record, replacing an older run's file there, so
a run that fails before its first epoch leaves nothing behind; a resumed run keeps the lines up
to its checkpoint. Every write is atomic or a single appended line. A checkpoint whose metrics
have no end line belongs to a run that was killed or crashed: `interrupted_runs` finds them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from vit_studio import __version__
from vit_studio.engine.device import device_label
from vit_studio.engine.fileio import append_line, write_text_atomic
from vit_studio.engine.model import StudioModel, save_model
from vit_studio.engine.training.config import TrainConfig
from vit_studio.engine.training.progress import CHECKPOINT_SUFFIX, EpochInfo, TrainPaths

END = "end"  # the kind of the metrics line a run writes as it ends


@dataclass(frozen=True)
class InterruptedRun:
    """A run that stopped without ending: killed, crashed, or its computer switched off."""

    checkpoint: Path
    epochs_completed: int  # the epochs its checkpoint holds

    @property
    def name(self) -> str:
        return self.checkpoint.parent.name


def interrupted_runs(runs_dir: str | os.PathLike) -> list[InterruptedRun]:
    """The runs in the folders of `runs_dir` (one folder per run, as the fine-tune panel keeps
    them) whose checkpoint is there but whose metrics have no end line, newest first."""
    found = []
    for checkpoint in Path(runs_dir).glob(f"*/*{CHECKPOINT_SUFFIX}"):
        metrics = TrainPaths.of_checkpoint(checkpoint).metrics
        records = _records(metrics)
        if records and records[-1].get("kind") == END:
            continue
        epochs = [r["epoch"] for r in records if r.get("kind") == "epoch" and "epoch" in r]
        found.append(
            (checkpoint.stat().st_mtime, InterruptedRun(checkpoint, max(epochs, default=0)))
        )
    return [run for _mtime, run in sorted(found, key=lambda pair: -pair[0])]


def set_aside(run: InterruptedRun) -> None:
    """Mark `run` as ended on purpose (the user chose not to resume it): it is not offered again,
    and its checkpoint stays for `--resume`."""
    metrics = TrainPaths.of_checkpoint(run.checkpoint).metrics
    record = {"kind": END, "status": "set aside", "epochs_completed": run.epochs_completed}
    append_line(metrics, json.dumps(record), "the metrics")


def _records(metrics: Path) -> list[dict[str, Any]]:
    if not metrics.is_file():
        return []
    records = []
    for line in metrics.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


class RunFiles:
    """The files of one run at `paths`."""

    def __init__(self, paths: TrainPaths) -> None:
        self.paths = paths
        self._metrics_open = False

    def resume(self, history: Sequence[EpochInfo]) -> None:
        """Keep the metrics lines up to the resumed checkpoint; later ones are written again."""
        epochs = len(history)
        kept = []
        if self.paths.metrics.is_file():
            for line in self.paths.metrics.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and record.get("epoch", epochs + 1) <= epochs:
                    kept.append(line + "\n")
        if not kept:  # missing or foreign file: rebuild the epoch lines from the checkpoint
            kept = [json.dumps({"kind": "epoch"} | h.record()) + "\n" for h in history]
        write_text_atomic(self.paths.metrics, "".join(kept), "the metrics")
        self._metrics_open = True

    def record(self, record: dict[str, Any]) -> None:
        """One more metrics line (the first of a new run replaces an older run's file)."""
        line = json.dumps(record, allow_nan=False)
        if self._metrics_open:
            append_line(self.paths.metrics, line, "the metrics")
        else:
            write_text_atomic(self.paths.metrics, line + "\n", "the metrics")
            self._metrics_open = True

    def record_end(self, status: Any, epochs_completed: int) -> None:
        """The run's last line: how it ended (a `RunStatus`) after how many epochs."""
        self.record({"kind": END, "status": str(status), "epochs_completed": epochs_completed})

    def save_model(
        self,
        model: StudioModel,
        module: torch.nn.Module,
        config: TrainConfig,
        epoch: int,
        val_acc: float | None,
        provenance: dict[str, Any],
        device: torch.device,
        *,
        world_size: int = 1,
    ) -> None:
        """The model after `epoch` epochs (0: as the run started), with how it was trained in
        its provenance (`device` is rank 0's; `world_size` the number of processes that trained
        it, torchrun's)."""
        training = {
            "config": config.to_dict(),
            "epochs_completed": epoch,
            "epochs_planned": config.epochs,
            "val_acc": val_acc,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "torch": torch.__version__,
            "vit_studio": __version__,
            "device": device_label(device),
            "world_size": world_size,
        }
        meta = replace(
            model.meta, provenance=model.meta.provenance | provenance | {"training": training}
        )
        save_model(StudioModel(module=module, arch=model.arch, meta=meta), self.paths.model)
