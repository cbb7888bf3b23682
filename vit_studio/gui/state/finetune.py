"""The states of the fine-tune panel, in the order a run goes through them."""

from __future__ import annotations

from enum import Enum


class PanelState(str, Enum):
    IDLE = "idle"  # no folder chosen
    SCANNING = "scanning"
    BLOCKED = "blocked"  # the folder cannot be trained on; the report says why
    READY = "ready"
    PREPARING = "preparing"  # checking and loading the images of a run
    TRAINING = "training"
    PAUSED = "paused"
    STOPPING = "stopping"  # cancelled; the run ends before its next step
    FINISHED = "finished"
    CANCELLED = "cancelled"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    @property
    def running(self) -> bool:
        """A run holds the training thread: the folder and the settings are fixed."""
        return self in (PanelState.PREPARING, PanelState.TRAINING, PanelState.PAUSED,
                        PanelState.STOPPING)  # fmt: skip
