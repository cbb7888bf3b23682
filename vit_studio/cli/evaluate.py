"""`vit-studio evaluate`: top-1, per-class accuracy and the confusion matrix of a model on a
folder (`engine.training.evaluate_folder` does the work; this prints it)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vit_studio.cli import summary
from vit_studio.cli.common import add_device_argument, add_model_argument, open_model
from vit_studio.cli.console import Console
from vit_studio.engine.fileio import write_text_atomic
from vit_studio.engine.resources import model_or_default
from vit_studio.engine.training import FolderEvaluation, evaluate_folder

# The largest confusion matrix printed on the terminal (--json always has it).
MAX_PRINTED_CLASSES = 20


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help=summary("evaluate"),
        description="Score --model on FOLDER's images. With a FOLDER/train + FOLDER/val layout "
        "only val/ is used; otherwise every image in the class folders is. Folder classes are "
        "matched to the model's class names by name.",
    )
    parser.add_argument("folder", metavar="FOLDER", help="the image folder")
    add_model_argument(parser)
    parser.add_argument(
        "--json", metavar="FILE", help="write results as JSON to FILE ('-' for standard output)"
    )
    parser.add_argument("--batch-size", type=int, default=256, metavar="N", help="default: 256")
    add_device_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    path = model_or_default(args.model)
    model = open_model(args.model, args.device, args.num_heads)
    console = Console()
    evaluation = evaluate_folder(
        model, args.folder, batch_size=args.batch_size, progress=console.stage
    )
    console.close()
    if args.json != "-":
        print(evaluation.scan.report())
        print_evaluation(evaluation, path)
    if args.json:
        text = json.dumps({"model": str(path)} | evaluation.to_dict(), indent=2) + "\n"
        if args.json == "-":
            sys.stdout.write(text)
        else:
            write_text_atomic(args.json, text, "the evaluation JSON")
    return 0


def print_evaluation(evaluation: FolderEvaluation, path: Path) -> None:
    result, scan = evaluation.result, evaluation.scan
    subset = "val/ folder" if evaluation.subset == "val" else "all images"
    print(
        f"{path} on {scan.root} ({subset}): top-1 {result.accuracy:.2%} "
        f"on {len(result.labels)} images, loss {result.loss:.4f}"
    )
    width = max(len(name) for name in result.class_names)
    for k, name in enumerate(result.class_names):
        if result.support[k]:
            print(f"  {name:<{width}}  {result.per_class_accuracy[k]:7.2%}  of {result.support[k]}")
    if len(result.class_names) <= MAX_PRINTED_CLASSES:
        confusion = result.confusion
        cell = max(4, len(str(confusion.max())) + 1)
        print("confusion (rows: true class, columns: predicted class, numbered as the rows):")
        print(" " * (width + 2) + "".join(f"{k:>{cell}}" for k in range(len(confusion))))
        for k, row in enumerate(confusion):
            label = f"{result.class_names[k]:<{width}}"
            print(f"  {label}" + "".join(f"{v:>{cell}}" for v in row) + f"  ({k})")
