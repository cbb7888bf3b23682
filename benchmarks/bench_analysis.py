"""Full analysis vs a plain torchvision forward, same model and input, same run.

    python benchmarks/bench_analysis.py [--arch vit_b_16] [--device cpu|cuda] [--repeats 5]

Prints the median time of a plain `model(x)` under inference mode, of `analyze` without and with
one class of gradient rollout, the ratios to the plain forward (targets: ≤ 1.5× and ≤ 4×), and the
median time of recomputing a rollout from the cached attentions (target ≤ 20 ms for ViT-B/16),
with numpy's BLAS on one thread as the explorer runs it. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse

import numpy as np
import timing  # benchmarks/timing.py: the scripts run from this folder
import torch
import torchvision
from threadpoolctl import threadpool_limits

from vit_studio.engine.analysis import analyze
from vit_studio.engine.images import PreparedImage
from vit_studio.engine.model import from_torchvision


def interleaved(fns: dict, repeats: int, device: torch.device) -> dict[str, float]:
    """Median milliseconds per function (`timing.interleaved`)."""
    return {name: s * 1000.0 for name, s in timing.interleaved(fns, repeats, device).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="vit_b_16", help="a torchvision ViT builder name")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)

    module = getattr(torchvision.models, args.arch)(weights=None).eval().to(device)
    model = from_torchvision(module, args.arch)
    arch = model.arch
    tensor = torch.randn(3, arch.image_size, arch.image_size)
    image = PreparedImage(
        pixels=np.zeros((arch.image_size, arch.image_size, 3), np.uint8), tensor=tensor
    )
    batch = tensor.unsqueeze(0).to(device)

    def plain():
        with torch.inference_mode():
            module(batch)

    passes = interleaved({
        "plain": plain,
        "analysis": lambda: analyze(model, image),
        "gradient": lambda: analyze(model, image, gradient_classes=1),
    }, args.repeats, device)
    plain_ms, analysis_ms, gradient_ms = passes["plain"], passes["analysis"], passes["gradient"]
    result = analyze(model, image, gradient_classes=1)
    top = result.top_k(1)[0].index
    # The explorer runs numpy's BLAS on one thread (vit_studio/gui/cpu.py): token-by-token
    # matrices gain nothing from more, and extra BLAS threads fight the model's torch threads.
    with threadpool_limits(limits=1, user_api="blas"):
        recomputes = interleaved({
            "rollout": lambda: result.rollout("mean", 0.9, 0),
            "max": lambda: result.rollout("max", 0.0, 0),
            "gradient": lambda: result.gradient_rollout(top, 0.0, 0),
        }, args.repeats * 4, device)
    rollout_ms, max_rollout_ms = recomputes["rollout"], recomputes["max"]
    gradient_rollout_ms = recomputes["gradient"]

    threads = torch.get_num_threads()
    print(f"{args.arch} on {device} ({threads} CPU threads), median of {args.repeats}")
    print(f"plain torchvision forward          {plain_ms:9.1f} ms   1.00x")
    print(f"analysis (no gradient rollout)     {analysis_ms:9.1f} ms   "
          f"{analysis_ms / plain_ms:.2f}x  (target <= 1.5x)")
    print(f"analysis + gradient rollout        {gradient_ms:9.1f} ms   "
          f"{gradient_ms / plain_ms:.2f}x  (target <= 4x)")
    print(f"rollout recompute (mean, discard)  {rollout_ms:9.2f} ms   (target <= 20 ms)")
    print(f"rollout recompute (max fusion)     {max_rollout_ms:9.2f} ms")
    print(f"gradient rollout recompute         {gradient_rollout_ms:9.2f} ms")


if __name__ == "__main__":
    main()
