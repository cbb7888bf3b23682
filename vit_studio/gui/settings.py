"""What the app remembers between runs, over QSettings: models, folders, layout, overlay options.

Typed properties keep key names and defaults in one place, and read values back with the right
type: INI-backed QSettings return every value as a string otherwise.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, QStandardPaths, QTimer

from vit_studio.engine.fileio import fsync_folder
from vit_studio.gui.settings_repair import repair
from vit_studio.gui.state.rollout import RolloutSettings

ORGANIZATION = "ViT Studio"
APPLICATION = "ViT Studio"
MAX_RECENT = 10
# What changes with every image opened (the recent files, the dialogs' folder) is written this
# long after the last change, not at once: QSettings writes its whole file and flushes it to disk
# on the GUI thread after every change, and a user stepping through a folder changes these
# several times a second (a flush waits for the disk: 20 ms, and more while the disk is busy).
BATCHED_WRITE_MS = 2000


class Settings:
    """Persistent preferences. Pass a QSettings (e.g. an INI file) to keep tests isolated."""

    def __init__(self, store: QSettings | None = None) -> None:
        self._store = store if store is not None else QSettings(ORGANIZATION, APPLICATION)
        # What a damaged file made the app start without, for the window to say (None: nothing).
        self.reset_note: str | None = repair(self._store)
        self._batched: dict[str, object] = {}  # values not yet handed to QSettings
        self._batch_timer: QTimer | None = None  # made on first use: a QApplication exists then

    def sync(self) -> None:
        """Write the settings now. QSettings flushes the file before renaming it into place
        (QSaveFile); its folder is flushed here, so the new name survives a power cut too."""
        self._write_batched()
        self._store.sync()
        folder = Path(self._store.fileName()).parent  # not a folder for the Windows registry
        if folder.is_dir():
            with contextlib.suppress(OSError):  # settings are not worth an error at exit
                fsync_folder(folder)

    # --- files --------------------------------------------------------------------------------

    @property
    def last_model(self) -> Path | None:
        return self._path("files/last_model")

    @last_model.setter
    def last_model(self, path: Path) -> None:
        self._store.setValue("files/last_model", str(path))

    @property
    def last_folder(self) -> Path | None:
        """The folder file dialogs start in."""
        return self._path("files/last_folder")

    @last_folder.setter
    def last_folder(self, path: Path) -> None:
        self._set_batched("files/last_folder", str(path))

    @property
    def recent_files(self) -> list[Path]:
        """Images and folders opened lately, newest first."""
        return self._paths("files/recent")

    def add_recent_file(self, path: Path) -> None:
        self._push("files/recent", path, batched=True)

    @property
    def recent_models(self) -> list[Path]:
        return self._paths("files/recent_models")

    def add_recent_model(self, path: Path) -> None:
        self._push("files/recent_models", path)

    @property
    def finetune_runs_dir(self) -> Path:
        """Where fine-tune runs write their models, checkpoints and metrics."""
        folder = self._path("finetune/runs_dir")
        if folder is not None:
            return folder
        data = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
        return Path(data or Path.home() / ".vit-studio") / "runs"

    @finetune_runs_dir.setter
    def finetune_runs_dir(self, folder: Path) -> None:
        self._store.setValue("finetune/runs_dir", str(folder))

    # --- device and view ----------------------------------------------------------------------

    @property
    def device(self) -> str:
        return str(self._store.value("run/device", "auto"))

    @device.setter
    def device(self, name: str) -> None:
        self._store.setValue("run/device", name)

    @property
    def overlay_opacity(self) -> float:
        return float(self._store.value("overlay/opacity", 0.6, type=float))

    @overlay_opacity.setter
    def overlay_opacity(self, value: float) -> None:
        self._store.setValue("overlay/opacity", float(value))

    @property
    def show_grid(self) -> bool:
        return bool(self._store.value("overlay/grid", True, type=bool))

    @show_grid.setter
    def show_grid(self, value: bool) -> None:
        self._store.setValue("overlay/grid", bool(value))

    @property
    def show_model_input(self) -> bool:
        """Whether maps are painted over the model's input rather than over the photo."""
        return bool(self._store.value("overlay/model_input", False, type=bool))

    @show_model_input.setter
    def show_model_input(self, value: bool) -> None:
        self._store.setValue("overlay/model_input", bool(value))

    @property
    def smooth_map(self) -> bool:
        """Whether maps are interpolated between patch centres (default: one block per patch)."""
        return bool(self._store.value("overlay/smooth", False, type=bool))

    @smooth_map.setter
    def smooth_map(self, value: bool) -> None:
        self._store.setValue("overlay/smooth", bool(value))

    @property
    def overlay_kind(self) -> str:
        return str(self._store.value("overlay/kind", "rollout"))

    @overlay_kind.setter
    def overlay_kind(self, kind: str) -> None:
        self._store.setValue("overlay/kind", kind)

    @property
    def rollout(self) -> RolloutSettings:
        defaults = RolloutSettings()
        try:
            return RolloutSettings(
                mode=str(self._store.value("rollout/mode", defaults.mode)),
                head_fusion=str(self._store.value("rollout/head_fusion", defaults.head_fusion)),
                discard_ratio=float(
                    self._store.value("rollout/discard_ratio", defaults.discard_ratio, type=float)
                ),
                start_layer=int(
                    self._store.value("rollout/start_layer", defaults.start_layer, type=int)
                ),
            )
        except ValueError:
            # A hand-edited or older settings file must not stop the app from starting.
            return defaults

    @rollout.setter
    def rollout(self, settings: RolloutSettings) -> None:
        self._store.setValue("rollout/mode", settings.mode)
        self._store.setValue("rollout/head_fusion", settings.head_fusion)
        self._store.setValue("rollout/discard_ratio", settings.discard_ratio)
        self._store.setValue("rollout/start_layer", settings.start_layer)

    # --- window layout ------------------------------------------------------------------------

    @property
    def window_geometry(self) -> QByteArray | None:
        return self._bytes("window/geometry")

    @window_geometry.setter
    def window_geometry(self, data: QByteArray) -> None:
        self._store.setValue("window/geometry", data)

    @property
    def window_state(self) -> QByteArray | None:
        """Docks and toolbars (QMainWindow.saveState), which of them are shown and how wide."""
        return self._bytes("window/state")

    @window_state.setter
    def window_state(self, data: QByteArray) -> None:
        self._store.setValue("window/state", data)

    @property
    def split_view(self) -> bool:
        """Whether the window was in split view when it closed (its second pane then follows the
        first again: what it was set to is not kept)."""
        return bool(self._store.value("window/split", False, type=bool))

    @split_view.setter
    def split_view(self, split: bool) -> None:
        self._store.setValue("window/split", bool(split))

    @property
    def first_run_hint_used(self) -> bool:
        """Whether the hint over the image has been used (a patch clicked) or dismissed."""
        return bool(self._store.value("hints/first_run_used", False, type=bool))

    @first_run_hint_used.setter
    def first_run_hint_used(self, used: bool) -> None:
        self._store.setValue("hints/first_run_used", bool(used))

    # --- helpers ------------------------------------------------------------------------------

    def _value(self, key: str) -> object:
        return self._batched[key] if key in self._batched else self._store.value(key)

    def _set_batched(self, key: str, value: object) -> None:
        """Set `key` now for every reader of these settings, and in the file once the changes
        pause for `BATCHED_WRITE_MS` (or at `sync`, which the window calls when it closes)."""
        self._batched[key] = value
        if self._batch_timer is None:
            self._batch_timer = QTimer()
            self._batch_timer.setSingleShot(True)
            self._batch_timer.setInterval(BATCHED_WRITE_MS)
            self._batch_timer.timeout.connect(self._write_batched)
        self._batch_timer.start()

    def _write_batched(self) -> None:
        if self._batch_timer is not None:
            self._batch_timer.stop()
        for key, value in self._batched.items():
            self._store.setValue(key, value)
        self._batched.clear()

    def _path(self, key: str) -> Path | None:
        value = self._value(key)
        return Path(str(value)) if value else None

    def _paths(self, key: str) -> list[Path]:
        value = self._value(key) or []
        # QSettings hands back a bare string for a one-element list in INI files.
        items = [value] if isinstance(value, str) else list(value)
        return [Path(str(item)) for item in items if item]

    def _push(self, key: str, path: Path, *, batched: bool = False) -> None:
        items = [p for p in self._paths(key) if p != path]
        value = [str(p) for p in [path, *items][:MAX_RECENT]]
        if batched:
            self._set_batched(key, value)
        else:
            self._store.setValue(key, value)

    def _bytes(self, key: str) -> QByteArray | None:
        value = self._store.value(key)
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None
