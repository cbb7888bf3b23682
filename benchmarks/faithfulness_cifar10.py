"""Faithfulness of every attribution method for the bundled model on held-out CIFAR-10 images.

    python benchmarks/faithfulness_cifar10.py [--images 300] [--device cpu|cuda]

The held-out images are the validation items of `scan_folder(cifar10/train, val_share=0.1,
seed=0)`, the split the bundled model was trained without; `--images` of them are taken evenly
spread over the classes. Prints a Markdown table of the four mean AUCs per method and whether
the negative-perturbation ranking agrees with Chefer et al.'s ImageNet table (transformer
attribution 54.16 > rollout 53.1 on ViT-B/16).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from vit_studio.engine.checkpoints import load_model
from vit_studio.engine.data import scan_folder
from vit_studio.engine.device import resolve_device
from vit_studio.engine.explain.evaluate import evaluate_faithfulness
from vit_studio.engine.explain.faithfulness import AUC_NAMES
from vit_studio.engine.resources import default_model_path

CIFAR_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10" / "train"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--folder", type=Path, default=CIFAR_TRAIN)
    args = parser.parse_args()
    model = load_model(default_model_path()).to(resolve_device(args.device))
    held_out = scan_folder(args.folder, val_share=0.1, seed=0, verify=False).val
    step = max(1, len(held_out) // args.images)
    paths = [item.path for item in held_out[::step][: args.images]]
    started = time.perf_counter()
    report = evaluate_faithfulness(model, paths)
    seconds = time.perf_counter() - started
    print(f"{report.model}, {report.images} held-out CIFAR-10 images, {seconds:.0f} s\n")
    print("| method | " + " | ".join(AUC_NAMES) + " |")
    print("|---" * (len(AUC_NAMES) + 1) + "|")
    for name, values in report.methods.items():
        cells = " | ".join(
            f"{values[key]:.2f}"
            if key.startswith(("positive", "negative"))
            else f"{values[key]:.3f}"
            for key in AUC_NAMES
        )
        print(f"| {name} | {cells} |")
    negative = {name: values["negative_auc"] for name, values in report.methods.items()}
    ranking = sorted(negative, key=negative.get, reverse=True)
    print("\nnegative perturbation AUC, best first: " + " > ".join(ranking))
    if {"transformer_attribution", "rollout"} <= negative.keys():
        agrees = negative["transformer_attribution"] > negative["rollout"]
        print(f"transformer attribution above rollout as in the paper: {agrees}")


if __name__ == "__main__":
    main()
