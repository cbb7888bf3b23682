"""`vit-studio faithfulness`: which attribution map to trust, scored by perturbation on a folder
(`engine.explain.evaluate` does the work; this lists the images and prints the table)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vit_studio.cli import summary
from vit_studio.cli.common import add_device_argument, add_model_argument, open_model
from vit_studio.cli.console import Console
from vit_studio.engine.errors import StudioError
from vit_studio.engine.explain.evaluate import FaithfulnessReport, evaluate_faithfulness
from vit_studio.engine.explain.faithfulness import AUC_NAMES
from vit_studio.engine.explain.methods import METHOD_DESCRIPTIONS, METHODS, check_methods
from vit_studio.engine.fileio import write_text_atomic
from vit_studio.engine.images import is_image_path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "faithfulness",
        help=summary("faithfulness"),
        description="Explain the predicted class of every image in FOLDER (and its subfolders) "
        "with each method, remove patches in the order the map ranks them and report the mean "
        "AUCs with 95% bootstrap intervals: positive perturbation (lower is better) and "
        "negative (higher), x100 over fractions 0..0.9; deletion (lower) and insertion "
        "(higher) of the predicted class's probability, over 0..1; and whether each method "
        "beats random by more than the interval of their difference on the same images. "
        "Methods: "
        + "; ".join(f"{name}: {text}" for name, text in METHOD_DESCRIPTIONS.items()),
    )
    parser.add_argument("folder", metavar="FOLDER", help="the image folder")
    add_model_argument(parser)
    parser.add_argument(
        "--methods",
        nargs="+",
        default=list(METHODS),
        metavar="METHOD",
        help=f"methods to score (default: all: {' '.join(METHODS)})",
    )
    parser.add_argument(
        "--limit", type=int, metavar="N", help="score only the first N images in name order"
    )
    parser.add_argument(
        "--seed", type=int, default=0,
        help="seed of the random maps and the bootstrap (default: 0)",
    )  # fmt: skip
    parser.add_argument(
        "--start-layer", type=int, default=0, metavar="L",
        help="first layer (0-based) transformer attribution multiplies in (default: 0, the "
        "paper's equations and the explorer; the authors' evaluation script uses 1)",
    )  # fmt: skip
    parser.add_argument(
        "--json", metavar="FILE", help="write results as JSON to FILE ('-' for standard output)"
    )
    add_device_argument(parser)
    parser.set_defaults(handler=run)


def folder_images(folder: str, limit: int | None) -> list[Path]:
    """Image files under `folder` at any depth, sorted by path, hidden ones left out."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a folder"
        raise StudioError(f"{root} {what}; give a folder of images")
    found = sorted(
        path
        for path in root.rglob("*")
        if is_image_path(path)
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )
    if not found:
        raise StudioError(f"{root} holds no image files; give a folder of images")
    return found[:limit] if limit is not None else found


VERDICT_MARKS = {"better": "+", "tie": "=", "worse": "-"}


def format_table(report: FaithfulnessReport) -> str:
    """Each AUC as 'mean [low, high] v', v the verdict against random: + better by more than
    the interval, = not told apart, - worse."""
    width = 27
    header = f"{'method':<24}" + "".join(f"{name:>{width}}" for name in AUC_NAMES)
    rows = []
    for name, values in report.methods.items():
        cells = []
        for auc in AUC_NAMES:
            low, high = report.intervals[name][auc]
            versus = report.versus_random.get(name)
            mark = VERDICT_MARKS[versus[auc].verdict] if versus else " "
            cells.append(f"{values[auc]:.3f} [{low:.3f}, {high:.3f}] {mark}".rjust(width))
        rows.append(f"{name:<24}" + "".join(cells))
    title = (
        f"{report.model} on {report.images} images: mean [95% bootstrap interval]; against "
        f"random on the same images: + better, = tie, - worse; transformer attribution from "
        f"layer {report.start_layer}"
    )
    return "\n".join([title, header, *rows])


def run(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise StudioError(f"--limit {args.limit}: give a number of images of at least 1")
    methods = check_methods(args.methods)
    images = folder_images(args.folder, args.limit)
    model = open_model(args.model, args.device, args.num_heads)
    if not 0 <= args.start_layer < model.arch.num_layers:
        raise StudioError(
            f"--start-layer {args.start_layer}: {model.meta.name} has layers 0.."
            f"{model.arch.num_layers - 1}"
        )
    console = Console()
    try:
        report = evaluate_faithfulness(
            model,
            images,
            methods,
            seed=args.seed,
            start_layer=args.start_layer,
            progress=lambda done, total: console.stage("scoring explanations", done, total),
        )
    except KeyboardInterrupt:
        raise KeyboardInterrupt("nothing was written") from None
    finally:
        console.close()
    for skipped in report.skipped:
        print(f"vit-studio: skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    if args.json != "-":
        print(format_table(report))
    if args.json:
        text = json.dumps(report.as_json(), indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            write_text_atomic(args.json, text, "the faithfulness JSON")
    return 0
