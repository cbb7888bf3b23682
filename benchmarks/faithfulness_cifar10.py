"""Faithfulness of every attribution method for the bundled model on held-out CIFAR-10 images,
with 95 % bootstrap intervals and which differences are real.

    python benchmarks/faithfulness_cifar10.py [--images 300] [--device cpu|cuda] [--save F.npz]
    python benchmarks/faithfulness_cifar10.py --report F.npz

The held-out images are the validation items of `scan_folder(cifar10/train, val_share=0.1,
seed=0)`, the split the bundled model was trained without; `--images` of them are taken evenly
spread over the classes, then shuffled with a fixed seed. Every method is scored with
transformer attribution from layer 0 (the paper's equations, the explorer's default); then
transformer attribution alone again from layer 1 (the authors' evaluation script), on the same
images, as `transformer_attribution@1`.

Images are scored in chunks of 50 (the random maps of chunk k drawn with seed + k); with
`--save` the per-image AUCs are written after each chunk and a run started again with the same
file goes on where it stopped, so a long run on a busy machine can be stopped and resumed, and
`--report` prints the tables of what a file holds.

Prints a Markdown table of the four mean AUCs per method with their intervals and the verdict
against random (paired bootstrap over the same images), then, per AUC, every pair of methods
whose difference is real (its interval leaves out 0) and every pair that ties.
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


def load(path: Path) -> tuple[dict[str, np.ndarray], float]:
    """The per-image AUCs a run saved, and the seconds it took."""
    with np.load(path) as saved:
        per_image = {
            name.replace("_from_", "@"): saved[name] for name in saved.files if name != "seconds"
        }
        return per_image, float(saved["seconds"])


def save(path: Path, per_image: dict[str, np.ndarray], seconds: float) -> None:
    arrays = {name.replace("@", "_from_"): values for name, values in per_image.items()}
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, seconds=np.float64(seconds), **arrays)
    partial.replace(path)


def report(per_image: dict[str, np.ndarray], seconds: float, seed: int) -> None:
    result = summarise("vit_cifar10", per_image, seed=seed)
    print(f"{result.model}, {result.images} held-out CIFAR-10 images, {seconds:.0f} s")
    print("mean [95 % bootstrap interval]; verdicts against random are paired over the images\n")
    print_table(result)
    print_pairs(result, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--folder", type=Path, default=CIFAR_TRAIN)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk", type=int, default=50)
    parser.add_argument("--save", type=Path, help="keep the per-image AUCs here (and resume)")
    parser.add_argument("--report", type=Path, help="print the tables of a saved run and stop")
    args = parser.parse_args()
    if args.report:
        report(*load(args.report), args.seed)
        return
    model = load_model(default_model_path()).to(resolve_device(args.device))
    held_out = scan_folder(args.folder, val_share=0.1, seed=0, verify=False).val
    step = max(1, len(held_out) // args.images)
    chosen = [item.path for item in held_out[::step][: args.images]]
    # The held-out items come class by class: a fixed shuffle makes every chunk, and so a run
    # stopped early, a sample of all the classes.
    paths = [chosen[k] for k in np.random.default_rng(0).permutation(len(chosen))]

    per_image: dict[str, np.ndarray] = {}
    seconds = 0.0
    if args.save and args.save.exists():
        per_image, seconds = load(args.save)
    done = len(next(iter(per_image.values()))) if per_image else 0
    for chunk, start in enumerate(range(0, len(paths), args.chunk)):
        if start < done:
            continue
        started = time.perf_counter()
        part = paths[start : start + args.chunk]
        everything = evaluate_faithfulness(model, part, seed=args.seed + chunk, start_layer=0)
        from_one = evaluate_faithfulness(
            model, part, ["transformer_attribution"], seed=args.seed + chunk, start_layer=1
        )
        scored = dict(everything.per_image)
        scored[SECOND_START] = from_one.per_image["transformer_attribution"]
        per_image = {
            name: np.concatenate([per_image[name], values]) if name in per_image else values
            for name, values in scored.items()
        }
        seconds += time.perf_counter() - started
        if args.save:
            save(args.save, per_image, seconds)
        print(f"{start + len(part)}/{len(paths)} images, {seconds:.0f} s", file=sys.stderr)
    report(per_image, seconds, args.seed)


if __name__ == "__main__":
    main()
