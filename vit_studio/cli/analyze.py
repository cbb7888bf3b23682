"""`vit-studio analyze`: predictions and every captured array for one or more images."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from vit_studio.cli.common import add_device_argument, add_model_argument, open_model
from vit_studio.engine.analysis import TOP_K, Analysis, analyze
from vit_studio.engine.errors import StudioError
from vit_studio.engine.export import analysis_record, write_npz
from vit_studio.engine.fileio import write_text_atomic
from vit_studio.engine.images import open_image, prepare_image
from vit_studio.engine.model import StudioModel
from vit_studio.engine.resources import sample_images

EXIT_SOME_FAILED = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="classify images and export attention, rollout and embeddings",
        description="Run the model once per image and report the top-k predictions. "
        "Bad images are reported on one line each; the others are still processed "
        "(exit code 2 if any failed).",
    )
    parser.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE",
        help="image files to analyse (default: the sample photos shipped with ViT Studio)",
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
        "mean_attention_distance, token_norms, logit_lens) as float32 NPZ; with several images "
        "FILE is a folder that receives one IMAGE-NAME.npz per image",
    )
    add_device_argument(parser)
    parser.set_defaults(handler=run)


def _npz_target(argument: str, image: Path, several: bool) -> Path:
    if not several:
        return Path(argument)
    return Path(argument) / f"{image.stem}.npz"


def _analyse_one(model: StudioModel, path: Path, top_k: int) -> tuple[Analysis, dict[str, Any]]:
    started = time.perf_counter()
    prepared = prepare_image(open_image(path), model.meta.preprocessing)
    load_ms = (time.perf_counter() - started) * 1000.0
    result = analyze(model, prepared)
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
    model = open_model(args.model, args.device, args.num_heads)
    images = [Path(p) for p in args.images] or sample_images()
    if not images:
        raise StudioError("no IMAGE given and no sample photos are installed; name an image file")
    several = len(images) > 1
    quiet = args.json == "-"
    records: list[dict[str, Any]] = []
    failures = 0
    for path in images:
        try:
            result, record = _analyse_one(model, path, args.top_k)
            if args.npz:
                write_npz(_npz_target(args.npz, path, several), result)
        except StudioError as exc:
            failures += 1
            print(f"vit-studio: error: {exc}", file=sys.stderr)
            records.append({"image": str(path), "error": str(exc)})
            continue
        records.append(record)
        if not quiet:
            print(_summary_line(record, result))
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
