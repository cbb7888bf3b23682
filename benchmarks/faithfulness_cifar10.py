"""Faithfulness of every attribution method for the bundled model on held-out CIFAR-10 images,
with 95 % bootstrap intervals and which differences are real.

    python benchmarks/faithfulness_cifar10.py [--images 300] [--device cpu|cuda] [--save F.npz]

The held-out images are the validation items of `scan_folder(cifar10/train, val_share=0.1,
seed=0)`, the split the bundled model was trained without; `--images` of them are taken evenly
spread over the classes. Every method is scored with transformer attribution from layer 0 (the
paper's equations, the explorer's default); then transformer attribution alone again from layer
1 (the authors' evaluation script), on the same images, as `transformer_attribution@1`.

Prints a Markdown table of the four mean AUCs per method with their intervals and the verdict
against random (paired bootstrap over the same images), then, per AUC, every pair of methods
whose difference is real (its interval leaves out 0) and every pair that ties. `--save` keeps
the per-image AUCs for another look.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np

from vit_studio.engine.checkpoints import load_model
from vit_studio.engine.data import scan_folder
from vit_studio.engine.device import resolve_device
from vit_studio.engine.explain.evaluate import FaithfulnessReport, evaluate_faithfulness, summarise
from vit_studio.engine.explain.faithfulness import AUC_NAMES
from vit_studio.engine.explain.intervals import compare, resampled_images
from vit_studio.engine.resources import default_model_path

CIFAR_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10" / "train"
SECOND_START = "transformer_attribution@1"


def cell(value: float, interval: tuple[float, float], auc: str) -> str:
    digits = 2 if auc.startswith(("positive", "negative")) else 3
    low, high = interval
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def print_table(report: FaithfulnessReport) -> None:
    arrows = {"positive_auc": "↓", "negative_auc": "↑", "deletion_auc": "↓", "insertion_auc": "↑"}
    print("| method | " + " | ".join(f"{auc} {arrows[auc]}" for auc in AUC_NAMES) + " |")
    print("|---" * (len(AUC_NAMES) + 1) + "|")
    marks = {"better": "", "worse": " (worse than random)", "tie": " (tie with random)"}
    for name, means in report.methods.items():
        cells = []
        for auc in AUC_NAMES:
            text = cell(means[auc], report.intervals[name][auc], auc)
            if name in report.versus_random:
                text += marks[report.versus_random[name][auc].verdict]
            cells.append(text)
        print(f"| {name} | " + " | ".join(cells) + " |")


def print_pairs(report: FaithfulnessReport, seed: int) -> None:
    samples = resampled_images(report.images, np.random.default_rng(seed + 1))
    names = list(report.per_image)
    for k, auc in enumerate(AUC_NAMES):
        real, ties = [], []
        for a, b in itertools.combinations(names, 2):
            result = compare(auc, report.per_image[a][:, k], report.per_image[b][:, k], samples)
            low, high = result.interval
            text = f"{a} − {b} = {result.difference:+.3f} [{low:+.3f}, {high:+.3f}]"
            if result.verdict == "tie":
                ties.append(text)
            else:
                winner = a if result.verdict == "better" else b
                real.append(f"{text}: {winner} better")
        print(f"\n{auc}: {len(real)} real differences, {len(ties)} ties")
        for line in ties:
            print(f"  tie: {line}")
        for line in real:
            print(f"  real: {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--folder", type=Path, default=CIFAR_TRAIN)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", type=Path, help="write the per-image AUCs to this NPZ")
    args = parser.parse_args()
    model = load_model(default_model_path()).to(resolve_device(args.device))
    held_out = scan_folder(args.folder, val_share=0.1, seed=0, verify=False).val
    step = max(1, len(held_out) // args.images)
    paths = [item.path for item in held_out[::step][: args.images]]

    started = time.perf_counter()

    def progress(stage: str):
        def report(done: int, total: int) -> None:
            if done % 50 == 0 or done == total:
                elapsed = time.perf_counter() - started
                print(f"{stage}: {done}/{total} images, {elapsed:.0f} s", file=sys.stderr)

        return report

    everything = evaluate_faithfulness(
        model, paths, seed=args.seed, start_layer=0, progress=progress("every method")
    )
    from_one = evaluate_faithfulness(
        model, paths, ["transformer_attribution"], seed=args.seed, start_layer=1,
        progress=progress("transformer attribution from layer 1"),
    )  # fmt: skip
    seconds = time.perf_counter() - started
    per_image = dict(everything.per_image)
    per_image[SECOND_START] = from_one.per_image["transformer_attribution"]
    report = summarise(everything.model, per_image, seed=args.seed)
    if args.save:
        np.savez(args.save, **{name.replace("@", "_from_"): v for name, v in per_image.items()})

    print(f"{report.model}, {report.images} held-out CIFAR-10 images, {seconds:.0f} s")
    print("mean [95 % bootstrap interval]; verdicts against random are paired over the images\n")
    print_table(report)
    print_pairs(report, args.seed)


if __name__ == "__main__":
    main()
