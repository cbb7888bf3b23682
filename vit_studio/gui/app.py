"""Start the explorer: `run(argv)` is what `vit-studio` without a subcommand calls.

    vit-studio [IMAGE] [--model M] [--device D] [--screenshot OUT.png] [--view VIEW]

With `--screenshot` the window renders offscreen, waits until the analysis is on screen, saves a
PNG and exits (0 on success, 2 on a user error, 1 if nothing was shown in time). With
`--view finetune` and a FOLDER of class subfolders instead of an image, it fine-tunes the model on
FOLDER with the panel's default settings and pictures the finished run; a FOLDER that cannot be
trained on is pictured as its scan report, and its problem printed (exit 2).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QDockWidget

from vit_studio.engine.device import DEVICE_CHOICES
from vit_studio.engine.images import is_image_path
from vit_studio.engine.resources import SAMPLES_DIR, default_model_path
from vit_studio.gui.finetune.states import PanelState
from vit_studio.gui.main_window import VIEWS, MainWindow
from vit_studio.gui.settings import APPLICATION, ORGANIZATION, Settings

EXIT_USER_ERROR = 2
DEFAULT_SAMPLE = "cat_chelsea.jpg"
SCREENSHOT_TIMEOUT_MS = 300_000  # a ViT-L on a slow CPU still finishes well within this
SCREENSHOT_SIZE = (1500, 950)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vit-studio",
        description="Open the ViT Studio explorer: predictions, attention per head, rollout and "
        "position embeddings of a Vision Transformer, for one image or a folder.",
    )
    parser.add_argument(
        "image",
        nargs="?",
        metavar="IMAGE",
        help="an image file or a folder of images (default: a sample image); with --view "
        "finetune, a folder of class subfolders to fine-tune on",
    )
    parser.add_argument(
        "--model",
        metavar="PATH",
        help="a ViT Studio .safetensors, a torchvision or timm checkpoint, or a Hugging Face "
        "ViT folder (default: the last model used, else the bundled model)",
    )
    parser.add_argument(
        "--device",
        choices=DEVICE_CHOICES,
        help="where the model runs: auto picks CUDA, then Apple MPS, then the CPU "
        "(default: the last choice, else auto)",
    )
    parser.add_argument(
        "--screenshot",
        metavar="OUT.png",
        help="render the window offscreen once the analysis is shown, save it as a PNG, exit",
    )
    parser.add_argument(
        "--view",
        choices=VIEWS,
        default="predictions",
        help="which view to bring to the front (default: predictions)",
    )
    return parser


def default_sample() -> Path | None:
    """The sample photo to start on: the cat (a class the bundled CIFAR-10 model knows)."""
    if not SAMPLES_DIR.is_dir():
        return None
    samples = sorted(p for p in SAMPLES_DIR.iterdir() if p.is_file() and is_image_path(p))
    preferred = SAMPLES_DIR / DEFAULT_SAMPLE
    return preferred if preferred in samples else next(iter(samples), None)


def run(argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (without the program name), show the window, return the exit code."""
    args = build_parser().parse_args(argv)
    if args.screenshot and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setOrganizationName(ORGANIZATION)
    app.setApplicationName(APPLICATION)

    if args.screenshot:
        # A picture must not depend on what the last session left behind, nor change it.
        scratch = tempfile.TemporaryDirectory()
        settings = Settings(
            QSettings(str(Path(scratch.name) / "settings.ini"), QSettings.Format.IniFormat)
        )
        settings.finetune_runs_dir = Path(scratch.name) / "runs"
    else:
        settings = Settings()
    if args.device:
        settings.device = args.device

    window = MainWindow(settings)
    if args.screenshot:
        window.resize(*SCREENSHOT_SIZE)
    window.show_view(args.view)
    window.show()

    model = _model_to_open(args.model, settings)
    if model is not None:
        window.load_model(model)
    image = Path(args.image) if args.image else default_sample()
    finetuning = args.view == "finetune" and image is not None and image.is_dir()
    if finetuning:
        window.finetune_folder(image)
    elif image is not None:
        window.open_image(image)
    if model is None:
        window.show_notice(
            "No model yet: open one with Model ▸ Open Model… (a ViT Studio .safetensors, a "
            "torchvision or timm checkpoint, or a Hugging Face ViT folder)"
        )

    code = {"value": 0}
    if args.screenshot:
        out = Path(args.screenshot)

        def capture(_analysis) -> None:
            _prepare_view(window, args.view)
            app.processEvents()
            if not window.grab().save(str(out), "PNG"):
                print(f"vit-studio: error: {out}: could not write the PNG", file=sys.stderr)
                code["value"] = EXIT_USER_ERROR
            window.close()

        def fail(message: str) -> None:
            print(f"vit-studio: error: {message}", file=sys.stderr)
            code["value"] = EXIT_USER_ERROR
            window.close()

        def timeout() -> None:
            print("vit-studio: error: nothing was shown in time", file=sys.stderr)
            code["value"] = 1
            window.close()

        if model is None or image is None:
            fail("--screenshot needs a model (--model) and an image (IMAGE)")
            return code["value"]
        if finetuning:
            panel = window.finetune_panel
            # Start once, as soon as the folder is scanned and the base model known.
            panel.readyChanged.connect(
                lambda ready: ready and panel.state() == PanelState.READY and panel.start()
            )
            panel.runEnded.connect(capture)
            panel.errorShown.connect(fail)

            def picture_blocked(result) -> None:
                if result.scan is None:
                    print(f"vit-studio: error: {result.problem}", file=sys.stderr)
                    code["value"] = EXIT_USER_ERROR
                    capture(None)

            panel.scanned.connect(picture_blocked)
        else:
            window.analysisReady.connect(capture)
        window.errorShown.connect(fail)
        QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, timeout)
    else:
        window.scan_local_models()

    app.exec()
    if not window.shutdown():
        # torch cannot interrupt a forward pass, and destroying a running QThread aborts the
        # process; leave at once instead of hanging until the worker finishes.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code["value"])
    return code["value"]


def _model_to_open(argument: str | None, settings: Settings) -> Path | None:
    if argument:
        return Path(argument)
    last = settings.last_model
    if last is not None and last.exists():
        return last
    return default_model_path()


def _prepare_view(window: MainWindow, view: str) -> None:
    """Make the overlay match the view being pictured."""
    if view == "finetune":
        # The picture is of the panel: the explorer's side docks would only squeeze it.
        for name in ("model_dock", "folder_dock"):
            window.findChild(QDockWidget, name).hide()
        window.show_view(view)
        panel = window.finetune_panel
        if panel.state() == PanelState.BLOCKED:
            panel.show_page("data")
        else:
            panel.show_biggest_confusion()
        return
    analysis = window.result.analysis
    if view == "attention":
        window.select_head(analysis.num_layers - 1, -1)
    elif view in ("posembed", "patch"):
        g = analysis.grid_size
        overlay = "posembed" if view == "posembed" else "patch"
        window.select_patch((g // 2) * g + g // 3, overlay=overlay)
    window.show_view(view)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
