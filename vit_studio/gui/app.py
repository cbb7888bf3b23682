"""Start the explorer: `run(options)` is what `vit-studio` without a subcommand calls, with the
options `cli.explore` read: the window on a model and an image (or a fine-tune folder).

The window comes first: this thread imports Qt and the window's own modules only, shows the
photo at once (decoded with Pillow), and the inference thread imports torch and loads the model
meanwhile; the first map follows when they are ready (benchmarks/bench_startup.py)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QSettings, Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QWidget

from vit_studio.engine.resources import default_model_path, default_sample
from vit_studio.gui import screenshot, theme
from vit_studio.gui.main_window import MainWindow
from vit_studio.gui.settings import APPLICATION, ORGANIZATION, Settings


def run(options: argparse.Namespace) -> int:
    """Show the window for `options` (see `cli.explore`) until it closes; the exit code."""
    if options.screenshot and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if QApplication.instance() is None:
        # Fractional scales (125 %, 150 %) as they are: pictures and maps stay sharp, and the
        # window is as large as the desktop's other windows.
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
        )
    app = QApplication.instance() or QApplication([sys.argv[0]])
    theme.follow_system_scheme(app)
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)
    scratch = tempfile.TemporaryDirectory() if options.screenshot else None
    settings = _screenshot_settings(Path(scratch.name)) if scratch else Settings()
    if options.device:
        settings.device = options.device

    # The inference thread starts (and imports torch) once the window is on screen with the
    # photo: started sooner, it would take turns with the window's own start-up for the one
    # interpreter lock, and the window would come later for no earlier map.
    window = MainWindow(settings, hold_inference=True)
    size = options.window_size or (screenshot.SIZE if options.screenshot else None)
    if size is not None:
        window.resize(*size)
    window.show_view(options.view)
    window.show()
    _FirstExposed(window, window.release_inference)

    model = _model_to_open(options.model, settings)
    image = Path(options.image) if options.image else default_sample()
    picture = screenshot.Screenshot(app, window, options) if options.screenshot else None
    if model is not None:
        window.load_model(model, options.num_heads if options.model else None)
    finetuning = options.view == "finetune" and image is not None and image.is_dir()
    if finetuning:
        window.finetune_folder(image)
        # The folder goes to the fine-tune panel; beside it the explorer shows the sample photo,
        # as it does when no IMAGE is given.
        sample = default_sample()
        if sample is not None:
            window.open_image(sample)
    elif image is not None:
        window.open_image(image)
    if options.split or options.compare_model:
        window.set_split(True)
        if options.compare_model:
            window.split_view.compare.load_model(options.compare_model)
    if model is None:
        window.show_notice(
            "No model yet: open one with Model ▸ Open Model… (a ViT Studio .safetensors, a "
            "torchvision or timm checkpoint, or a Hugging Face ViT folder)"
        )
    if picture is not None:
        picture.start(model, image, finetuning)
    elif model is not None and image is not None:
        # The caches are searched in the inference thread, which the first analysis waits for.
        _once(window.scan_local_models, window.analysisReady, window.errorShown)
    else:
        window.scan_local_models()

    app.exec()
    code = picture.exit_code if picture is not None else 0
    if not window.shutdown():
        # torch cannot interrupt a forward pass, and destroying a running QThread aborts the
        # process; leave at once instead of hanging until the worker finishes.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _screenshot_settings(scratch: Path) -> Settings:
    """A picture must not depend on what the last session left behind, nor change it."""
    settings = Settings(QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat))
    settings.finetune_runs_dir = scratch / "runs"
    settings.first_run_hint_used = True  # the pictures show the app in use, not a first session
    return settings


def _model_to_open(argument: str | None, settings: Settings) -> Path | None:
    if argument:
        return Path(argument)
    last = settings.last_model
    if last is not None and last.exists():
        return last
    return default_model_path()


def _once(action, *signals) -> None:
    """Run `action` when the first of `signals` is emitted, once."""

    def run_once(*_args) -> None:
        for signal in signals:
            signal.disconnect(run_once)
        action()

    for signal in signals:
        signal.connect(run_once)


class _FirstExposed(QObject):
    """Runs `action` once `window` is on screen, painted; or after `FALLBACK_MS` at the latest
    (a window that starts minimised is not exposed)."""

    FALLBACK_MS = 2000

    def __init__(self, window: QWidget, action: Callable[[], None]) -> None:
        super().__init__(window)
        self._action: Callable[[], None] | None = action
        window.windowHandle().installEventFilter(self)
        QTimer.singleShot(self.FALLBACK_MS, self._run)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Expose and watched.isExposed():
            watched.removeEventFilter(self)
            QTimer.singleShot(0, self._run)  # after the paint this expose brings
        return False

    def _run(self) -> None:
        if self._action is not None:
            action, self._action = self._action, None
            action()
