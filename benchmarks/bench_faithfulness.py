"""Seconds per image of each attribution method with its faithfulness curves, against one plain
forward of the same model on the same input, measured in the same run.

    python benchmarks/bench_faithfulness.py [--device cpu|cuda] [--repeats 3]

For the bundled model and a ViT-B/16 with random weights (no download), prints per method the
median seconds of `explain` for that method alone plus its `perturbation_curves` (the four
curves from one batched forward of 20 perturbed inputs), the same for the map alone, and both
as ratios to a plain `model(x)` under inference mode. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse

import timing  # benchmarks/timing.py: the scripts run from this folder
import torch
import torchvision

from vit_studio.engine.checkpoints import load_model
from vit_studio.engine.explain.faithfulness import perturbation_curves
from vit_studio.engine.explain.methods import METHODS, explain
from vit_studio.engine.model import StudioModel, from_torchvision
from vit_studio.engine.resources import default_model_path


def bench(model: StudioModel, repeats: int) -> None:
    device = model.device
    arch = model.arch
    module = model.module.eval()
    x = torch.randn(3, arch.image_size, arch.image_size, device=device)

    def plain():
        with torch.inference_mode():
            module(x.unsqueeze(0))

    def map_only(method):
        return lambda: explain(model, x, (method,))

    def scored(method):
        def run():
            found = explain(model, x, (method,))
            perturbation_curves(module, x, found.maps[method], found.predicted)

        return run

    fns = {"plain": plain}
    for method in METHODS:
        fns[f"map {method}"] = map_only(method)
        fns[f"scored {method}"] = scored(method)
    times = timing.interleaved(fns, repeats, device)
    base = times["plain"]
    print(f"\n{model.meta.name} ({arch.describe()}) on {device}: plain forward {base * 1e3:.1f} ms")
    print(f"{'method':<24}{'map s':>10}{'map ×':>9}{'map+curves s':>14}{'×':>9}")
    for method in METHODS:
        m, s = times[f"map {method}"], times[f"scored {method}"]
        print(f"{method:<24}{m:>10.4f}{m / base:>9.1f}{s:>14.4f}{s / base:>9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    bench(load_model(default_model_path()).to(device), args.repeats)
    vit_b_16 = torchvision.models.vit_b_16(weights=None).eval().to(device)
    with torch.no_grad():
        # torchvision zero-initialises the head: every class would tie.
        vit_b_16.heads.head.weight.normal_(std=0.02)
    bench(from_torchvision(vit_b_16, "vit_b_16 (random weights)"), args.repeats)


if __name__ == "__main__":
    main()
