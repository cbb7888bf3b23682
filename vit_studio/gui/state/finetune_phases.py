"""The fine-tune session's vocabulary: the phases of the panel, the kinds of work the training
thread does for it, and what the end of a run is called."""

from __future__ import annotations

from enum import Enum


class PanelState(str, Enum):
    """The phases of the fine-tune panel, in the order a run goes through them."""

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
        return self in (
            PanelState.PREPARING,
            PanelState.TRAINING,
            PanelState.PAUSED,
            PanelState.STOPPING,
        )


class Job(str, Enum):
    """The kinds of work the training thread does for the session; a failure names its kind."""

    SCAN = "scan"
    BASE = "base"
    RUN = "run"
    SAVE = "save"
    FIND = "find"  # runs a killed window left unfinished

    def __str__(self) -> str:
        return self.value


# What the end of a run is called on the Result page, by `RunStatus` (a str enum: a status
# looks itself up by its value).
ENDINGS = {
    "completed": "Finished",
    "cancelled": "Cancelled",
    "time budget": "Stopped at its time budget",
    "early stop": "Stopped early: validation had stopped improving",
}
