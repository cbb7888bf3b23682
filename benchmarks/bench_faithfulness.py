"""Seconds per image of each attribution method with its faithfulness curves, against one plain
forward of the same model on the same input, measured in the same run.

    python benchmarks/bench_faithfulness.py [--device cpu|cuda] [--repeats 3]
        [--methods M ...] [--maps-only] [--cpu-time]

For the bundled model and a ViT-B/16 with random weights (no download), prints per method the
median seconds of `explain` for that method alone plus its `perturbation_curves` (the four
curves from one batched forward of 20 perturbed inputs), the same for the map alone, and both
as ratios to a plain `model(x)` under inference mode; `--maps-only` leaves the curves out. The
target for AttnLRP (one forward and one backward pass of its own) is a map within 3 forwards.
Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import timing  # benchmarks/timing.py: the scripts run from this folder
import torch
import torchvision

from vit_studio.engine.checkpoints import load_model
from vit_studio.engine.explain.faithfulness import perturbation_curves
from vit_studio.engine.explain.methods import METHODS, explain
from vit_studio.engine.model import StudioModel, from_torchvision
from vit_studio.engine.resources import default_model_path

ATTNLRP_TARGET = 3.0  # forwards


def bench(
    model: StudioModel,
    repeats: int,
    methods: list[str],
    maps_only: bool,
    clock: Callable[[], float] = time.perf_counter,
) -> None:
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
    for method in methods:
        fns[f"map {method}"] = map_only(method)
        if not maps_only:
            fns[f"scored {method}"] = scored(method)
    times = timing.interleaved(fns, repeats, device, clock)
    base = times["plain"]
    print(f"\n{model.meta.name} ({arch.describe()}) on {device}: plain forward {base * 1e3:.1f} ms")
    print(
        f"{'method':<24}{'map s':>10}{'map ×':>9}"
        + ("" if maps_only else f"{'map+curves s':>14}{'×':>9}")
    )
    for method in methods:
        m = times[f"map {method}"]
        line = f"{method:<24}{m:>10.4f}{m / base:>9.1f}"
        if not maps_only:
            scored_s = times[f"scored {method}"]
            line += f"{scored_s:>14.4f}{scored_s / base:>9.1f}"
        if method == "attnlrp":
            line += f"   (target <= {ATTNLRP_TARGET:.0f}x)"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--maps-only", action="store_true", help="leave the curves out")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="count this process's CPU seconds (one torch thread), not wall-clock seconds: "
        "for a machine busy with other work",
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    clock = time.perf_counter
    if args.cpu_time:
        torch.set_num_threads(1)
        clock = time.process_time
        print("CPU seconds of this process, one torch thread")
    options = (args.repeats, args.methods, args.maps_only, clock)
    bench(load_model(default_model_path()).to(device), *options)
    vit_b_16 = torchvision.models.vit_b_16(weights=None).eval().to(device)
    with torch.no_grad():
        # torchvision zero-initialises the head: every class would tie.
        vit_b_16.heads.head.weight.normal_(std=0.02)
    bench(from_torchvision(vit_b_16, "vit_b_16 (random weights)"), *options)


if __name__ == "__main__":
    main()
