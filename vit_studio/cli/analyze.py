"""`vit-studio analyze`: predictions and every captured array for one or more images, or with
`--csv` the top-k predictions of whole folders, batched and streamed to a CSV file."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from vit_studio.cli import summary
from vit_studio.cli.common import add_device_argument, add_model_argument, open_model
from vit_studio.cli.console import PLAIN_EVERY_S, Console
from vit_studio.engine.analysis import TOP_K, Analysis, analyze
from vit_studio.engine.batch import ACCELERATOR_BATCH_SIZE, CPU_BATCH_SIZE
from vit_studio.engine.errors import StudioError
from vit_studio.engine.export import analysis_record, class_maps, write_npz
from vit_studio.engine.fileio import write_text_atomic
from vit_studio.engine.images import open_image, prepare_image
from vit_studio.engine.model import StudioModel
from vit_studio.engine.predictions_csv import (
    CsvSummary,
    ImageEntry,
    image_entries,
    images_in_tree,
    write_predictions_csv,
)
from vit_studio.engine.resources import sample_images
from vit_studio.engine.text import clock_text, elapsed_text

EXIT_SOME_FAILED = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help=summary("analyze"),
        description="Run the model once per image and report the top-k predictions. "
        "Bad images are reported on one line each; the others are still processed "
        "(exit code 2 if any failed). With --csv, folders too: every image in them and their "
        "subfolders is predicted in batches, and the rows are written as the batches finish.",
    )
    parser.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE",
        help="image files to analyse, or with --csv folders of images too (default: the sample "
        "photos shipped with ViT Studio)",
    )
    add_model_argument(parser)
    parser.add_argument(
        "--top-k",
        type=int,
        default=TOP_K,
        metavar="K",
        help=f"predictions to show (default: {TOP_K})",
    )
    parser.add_argument(
        "--json", metavar="FILE", help="write results as JSON to FILE ('-' for standard output)"
    )
    parser.add_argument(
        "--npz",
        metavar="FILE",
        help="write the arrays (input, logits, probs, attentions, rollout, pos_similarity, "
        "mean_attention_distance, token_norms, logit_lens; for a classifier also gradcam and "
        "attnlrp, signed, of the predicted class) as float32 NPZ; with several images FILE is "
        "a folder that receives one IMAGE-STEM.npz per image, in the images' own subfolders "
        "below their common folder (cat.jpg.npz where cat.jpg and cat.png meet)",
    )
    parser.add_argument(
        "--csv",
        metavar="FILE",
        help="write the top-k predictions of every IMAGE, and of every image in a FOLDER and its "
        "subfolders, to FILE: one row per image (path relative to FOLDER; a true_label column "
        "holds the subfolder's name when there are subfolders), written batch by batch, so "
        "Ctrl-C keeps the finished rows",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        metavar="B",
        help=f"images per forward pass with --csv (default: {CPU_BATCH_SIZE} on the CPU, "
        f"{ACCELERATOR_BATCH_SIZE} on a GPU)",
    )
    add_device_argument(parser)
    parser.set_defaults(handler=run)


def npz_targets(argument: str, images: list[Path]) -> list[Path]:
    """Where each image's arrays go: FILE itself for one image; for several, FILE is a folder
    that mirrors the images' folders below their common one, each as IMAGE-STEM.npz, so that two
    images never share a file: images whose stems clash in one folder (cat.jpg, cat.png) keep
    their whole name (cat.jpg.npz), and an image named twice is numbered (cat.jpg-2.npz)."""
    out = Path(argument)
    if len(images) == 1:
        return [out]
    parents = [os.path.abspath(image.parent) for image in images]
    try:
        common = os.path.commonpath(parents)
    except ValueError:  # different drives (Windows): no folder holds them all
        common = None
    folders = [out / os.path.relpath(p, common) if common else out for p in parents]
    # Compared without case: on macOS and Windows Cat.npz and cat.npz are one file.
    pairs = list(zip(folders, images, strict=True))
    by_stem = [_key(folder / f"{image.stem}.npz") for folder, image in pairs]
    targets: list[Path] = []
    taken: set[str] = set()
    for (folder, image), key in zip(pairs, by_stem, strict=True):
        target = folder / (f"{image.stem}.npz" if by_stem.count(key) == 1 else f"{image.name}.npz")
        number = 1
        while _key(target) in taken:
            number += 1
            target = folder / f"{image.name}-{number}.npz"
        taken.add(_key(target))
        targets.append(Path(os.path.normpath(target)))
    return targets


def _key(path: Path) -> str:
    return os.path.normpath(path).casefold()


def _analyse_one(
    model: StudioModel, path: Path, top_k: int, explain: bool = False
) -> tuple[Analysis, dict[str, Any]]:
    """The analysis of one image; `explain`: with Grad-CAM and AttnLRP of its top class."""
    started = time.perf_counter()
    prepared = prepare_image(open_image(path), model.meta.preprocessing)
    load_ms = (time.perf_counter() - started) * 1000.0
    top = 1 if explain and model.arch.has_classifier else None
    result = analyze(model, prepared, gradient_classes=top, attnlrp_classes=top)
    record = {"image": str(path)} | analysis_record(result, top_k, {"load": load_ms})
    return result, record


def _summary_line(record: dict[str, Any], result: Analysis) -> str:
    if not result.has_classifier:
        # What a backbone does have, so the line says where to find it.
        return (
            f"{record['image']}: no classes ({record['no_classes']}); attention over "
            f"{result.num_layers} layers x {result.num_heads} heads on {result.grid_size}x"
            f"{result.grid_size} patches, rollout, position embeddings, distances and token "
            "norms: see --npz"
        )
    predictions = ", ".join(f"{p['label']} {p['probability']:.1%}" for p in record["top_k"])
    return f"{record['image']}: {predictions}"


def run(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        raise StudioError(f"--top-k {args.top_k}: give a number of predictions of at least 1")
    if args.csv is not None:
        return _run_csv(args)
    if args.batch_size is not None:
        raise StudioError("--batch-size applies to --csv only; add --csv FILE or drop it")
    model = open_model(args.model, args.device, args.num_heads)
    images = [Path(p) for p in args.images] or sample_images()
    if not images:
        raise StudioError("no IMAGE given and no sample photos are installed; name an image file")
    quiet = args.json == "-"
    targets = npz_targets(args.npz, images) if args.npz else [None] * len(images)
    records: list[dict[str, Any]] = []
    failures = 0
    for path, target in zip(images, targets, strict=True):
        try:
            if path.is_dir():
                raise StudioError(
                    f"{path}: a folder; add --csv FILE to predict every image in it and its "
                    "subfolders"
                )
            result, record = _analyse_one(model, path, args.top_k, explain=target is not None)
            if target is not None:
                write_npz(target, result, class_maps(result))
                record["npz"] = str(target)
        except StudioError as exc:
            failures += 1
            print(f"vit-studio: error: {exc}", file=sys.stderr)
            records.append({"image": str(path), "error": str(exc)})
            continue
        records.append(record)
        if not quiet:
            print(_summary_line(record, result))
            if target is not None:
                print(f"{path}: arrays in {target}")
    if args.json:
        document = {
            "model": model.meta.name,
            "device": str(model.device),
            "images": records,
        }
        text = json.dumps(document, indent=2)
        if args.json == "-":
            print(text)
        else:
            write_text_atomic(args.json, text + "\n")
    return EXIT_SOME_FAILED if failures else 0


def _csv_entries(arguments: list[str]) -> list[ImageEntry]:
    """Files as given, folders as their image trees; with several arguments a folder's rows are
    named FOLDER/RELATIVE-PATH, so two folders' files cannot share a name."""
    if not arguments:
        entries = image_entries(sample_images())
        if not entries:
            raise StudioError("no IMAGE given and no sample photos are installed; name a folder")
        return entries
    entries: list[ImageEntry] = []
    for argument in arguments:
        path = Path(argument)
        if not path.is_dir():
            entries += image_entries([path])
        elif len(arguments) == 1:
            entries += images_in_tree(path)
        else:
            entries += [replace(e, name=str(path / e.name)) for e in images_in_tree(path)]
    return entries


def _run_csv(args: argparse.Namespace) -> int:
    if args.json or args.npz:
        raise StudioError("--csv writes predictions only; run --json or --npz without --csv")
    if args.csv == "-":
        raise StudioError("--csv needs a file name (standard output is kept for messages)")
    if args.batch_size is not None and args.batch_size < 1:
        raise StudioError(f"--batch-size {args.batch_size}: give at least 1")
    entries = _csv_entries(args.images)
    model = open_model(args.model, args.device, args.num_heads)
    console = Console()
    started = time.monotonic()
    try:
        summary = write_predictions_csv(
            args.csv, model, entries, top_k=args.top_k, batch_size=args.batch_size,
            progress=_CsvProgress(console, started),
        )  # fmt: skip
    finally:
        console.close()
    console.line(_csv_line(summary, time.monotonic() - started))
    return EXIT_SOME_FAILED if summary.failures else 0


class _CsvProgress:
    """Images done of all, images per second and the time left: tqdm's bar on a terminal, a
    plain line every `PLAIN_EVERY_S` in a log."""

    def __init__(self, console: Console, started: float) -> None:
        self._console = console
        self._started = self._last_line = started

    def __call__(self, done: int, total: int) -> None:
        if sys.stderr.isatty():
            self._console.stage("predicting", done, total)
            return
        now = time.monotonic()
        if now - self._last_line < PLAIN_EVERY_S or done == total:
            return
        self._last_line = now
        rate = done / max(now - self._started, 1e-9)
        print(
            f"predicting: {done:,}/{total:,} images, {rate:,.1f} images/s, "
            f"ETA {clock_text((total - done) / rate)}",
            file=sys.stderr,
            flush=True,
        )


def _csv_line(summary: CsvSummary, seconds: float) -> str:
    failed = f", {summary.failures:,} unreadable" if summary.failures else ""
    speed = f"{summary.rows / max(seconds, 1e-9):,.1f} images/s"
    rows = f"{summary.rows:,} row{'' if summary.rows == 1 else 's'}"
    line = f"wrote {rows} to {summary.output}{failed} in {elapsed_text(seconds)} ({speed})"
    if summary.labelled:
        share = summary.top1_agrees / summary.labelled
        line += (
            f"; the top prediction is the folder's name for {summary.top1_agrees:,} of "
            f"{summary.labelled:,} ({share:.1%})"
        )
    return line
