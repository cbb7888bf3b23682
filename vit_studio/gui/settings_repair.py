"""What to do with a settings file this version cannot read: start with defaults, and say so.

QSettings reads what it can of a damaged file and converts the rest quietly (an opacity of
"banana" becomes 0.0, a transparent map; a grid of "maybe" becomes on; a list it cannot decode
becomes nothing). At start-up, before anything is read, `repair` checks every value the app
keeps, removes those it could not use so their defaults apply, and returns one line naming
them; a file QSettings cannot parse at all is kept aside and the app starts from defaults.
"""

from __future__ import annotations

import contextlib
import math
import shutil
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from vit_studio.engine.attribution import HEAD_FUSIONS
from vit_studio.engine.device import DEVICE_CHOICES
from vit_studio.gui.state.overlay import OVERLAYS
from vit_studio.gui.state.rollout import MAX_DISCARD_RATIO, ROLLOUT_MODES

UNREADABLE_SUFFIX = ".unreadable"


def _is_bool(value: object) -> bool:
    return isinstance(value, bool) or str(value).lower() in ("true", "false", "1", "0")


def _is_number_in(low: float, high: float) -> Callable[[object], bool]:
    def check(value: object) -> bool:
        try:
            number = float(str(value))
        except ValueError:
            return False
        return math.isfinite(number) and low <= number <= high

    return check


def _is_count(value: object) -> bool:
    return str(value).isdigit()


def _is_one_of(choices) -> Callable[[object], bool]:
    return lambda value: isinstance(value, str) and value in choices


def _is_path(value: object) -> bool:
    return isinstance(value, str) and bool(value) and "\0" not in value


def _is_paths(value: object) -> bool:
    # QSettings hands back a bare string for a one-element list in INI files.
    items = [value] if isinstance(value, str) else value
    return isinstance(items, list) and all(_is_path(item) for item in items)


def _is_bytes(value: object) -> bool:
    return isinstance(value, QByteArray)


# key -> (what it is, for people; whether a stored value is one this version can use)
CHECKS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "files/last_model": ("the last model", _is_path),
    "files/last_folder": ("the last folder", _is_path),
    "files/recent": ("the recent files", _is_paths),
    "files/recent_models": ("the recent models", _is_paths),
    "finetune/runs_dir": ("the fine-tune runs folder", _is_path),
    "run/device": ("the device", _is_one_of(DEVICE_CHOICES)),
    "overlay/opacity": ("the overlay opacity", _is_number_in(0.0, 1.0)),
    "overlay/grid": ("the patch grid", _is_bool),
    "overlay/model_input": ("the model-input overlay", _is_bool),
    "overlay/smooth": ("the smooth map", _is_bool),
    "overlay/kind": ("the overlay", _is_one_of(OVERLAYS)),
    "rollout/mode": ("the rollout settings", _is_one_of(ROLLOUT_MODES)),
    "rollout/head_fusion": ("the rollout settings", _is_one_of(HEAD_FUSIONS)),
    "rollout/discard_ratio": ("the rollout settings", _is_number_in(0.0, MAX_DISCARD_RATIO)),
    "rollout/start_layer": ("the rollout settings", _is_count),
    "window/geometry": ("the window layout", _is_bytes),
    "window/state": ("the window layout", _is_bytes),
    "window/split": ("the split view", _is_bool),
    "hints/first_run_used": ("the first-run hint", _is_bool),
}


def repair(store: QSettings) -> str | None:
    """Make `store` hold only values the app can use; one line saying what was reset to its
    default (None when nothing was)."""
    where = store.fileName()
    if store.status() != QSettings.Status.NoError:
        kept = _keep_aside(Path(where))
        store.clear()
        aside = f" (kept as {kept.name})" if kept is not None else ""
        return f"The settings file {where} could not be read{aside}; started with the defaults"
    reset: list[str] = []
    for key, (what, usable) in CHECKS.items():
        if store.contains(key) and not usable(store.value(key)):
            store.remove(key)
            if what not in reset:
                reset.append(what)
    if not reset:
        return None
    return f"Reset {', '.join(reset)} to the defaults: {where} held values that could not be read"


def _keep_aside(path: Path) -> Path | None:
    """A copy of the unreadable file for the user to look at (its name with UNREADABLE_SUFFIX),
    or None where it cannot be copied (a folder, no permission)."""
    kept = path.with_name(path.name + UNREADABLE_SUFFIX)
    with contextlib.suppress(OSError):
        if path.is_file():
            shutil.copyfile(path, kept)
            return kept
    return None
