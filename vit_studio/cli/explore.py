"""`vit-studio [IMAGE] [--model M] [--device D] [--window-size WxH] [--split]
[--compare-model M2] [--screenshot OUT.png [--view V]]`: the explorer.

The options are read here, before Qt is loaded, so `--help` and a mistyped option answer at once
and without a display; `gui.app.run` then opens the window.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from vit_studio.cli import EXIT_USER_ERROR
from vit_studio.cli.common import add_device_argument, add_model_argument, fetched_model
from vit_studio.engine.errors import StudioError
from vit_studio.gui.state.explorer import VIEWS


def window_size(text: str) -> tuple[int, int]:
    """'1280x800' -> (1280, 800); argparse reports anything else as an invalid value."""
    match = re.fullmatch(r"\s*(\d{3,5})\s*[xX×]\s*(\d{3,5})\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; write it as WxH, e.g. 1280x800")
    return int(match[1]), int(match[2])


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
        "finetune, a folder of class subfolders to fine-tune on (the photo beside the panel is "
        "then the sample image)",
    )
    add_model_argument(parser, "the last model used, else the bundled model")
    add_device_argument(parser, default=None)
    parser.add_argument(
        "--screenshot",
        metavar="OUT.png",
        help="render the window offscreen once the analysis is shown (with --view finetune and "
        "a FOLDER: once the fine-tune with the default settings has ended), save it as a PNG, "
        "say on one line what it shows, and exit",
    )
    parser.add_argument(
        "--window-size",
        type=window_size,
        metavar="WxH",
        help="open the window at this size in pixels, e.g. 1280x800 (default: the size it had "
        "last time; with --screenshot 1500x950)",
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="open in split view: a second pane beside the image, with its own controls "
        "(View ▸ Split View)",
    )
    parser.add_argument(
        "--compare-model",
        metavar="M2",
        help="show model M2 in the split view's second pane (a fine-tuned model against its "
        "base, say); implies --split",
    )
    parser.add_argument(
        "--view",
        choices=VIEWS,
        default="predictions",
        metavar="V",
        help=f"which view to bring to the front: {', '.join(VIEWS)} (default: predictions)",
    )
    return parser


def synopsis() -> str:
    """How the explorer is called, every option included, for the top-level help to show."""
    usage = build_parser().format_usage().removeprefix("usage:").replace("[-h] ", "")
    return " ".join(usage.split())


def run(argv: Sequence[str]) -> int:
    """Read the options, then open the explorer (the exit code is the window's)."""
    options = build_parser().parse_args(argv)
    try:
        options.model = fetched_model(options.model)
        options.compare_model = fetched_model(options.compare_model)
    except StudioError as exc:
        print(f"vit-studio: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as exc:  # during a --model download: say how to resume it
        print(f"vit-studio: interrupted: {exc}", file=sys.stderr)
        return 130
    # Imported here so that reading the options never loads Qt.
    from vit_studio.gui.app import run as run_app

    return run_app(options)
