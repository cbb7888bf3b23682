"""Fine-tuning with the default settings against its controls, on user-style folders.

    python benchmarks/bench_finetune.py [--shared ../shared] [--work DIR] [--only SLUG ...]
                                        [--seeds N] [--json FILE]

For each folder of `finetune_folders` (most of them unlike the bundled model's CIFAR-10 photos)
it runs `vit-studio finetune FOLDER` with no options (the engine pipeline, in process, on the
CPU, from the bundled model), scores the kept model on the folder's test images (never seen by
the run), and measures three controls on the same test images, each fitted to the same images
the fine-tune had (its training and validation split together):

- base: the untouched bundled model, its scores restricted to the folder's classes, where the
  folder's class names are all classes of the model (matched as `vit-studio evaluate` does);
- probe: logistic regression on the bundled model's frozen features (what the head sees);
- pixels: logistic regression on the raw 32 x 32 pixels (`training.baseline`).

It prints, per folder, the four accuracies, our error rate over the best control's and over the
pixels' (below 1 is better), and the minutes the fine-tune took (scan, cache, plan, train).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from finetune_folders import SYSTEM_PACKAGES, Folder, folders

from vit_studio.engine.data import cache_images, scan_folder
from vit_studio.engine.model import StudioModel, load_studio_model
from vit_studio.engine.resources import model_or_default
from vit_studio.engine.training import evaluate, evaluate_folder
from vit_studio.engine.training.baseline import fit_logistic_regression, pixel_baseline
from vit_studio.engine.training.class_match import match_class_names
from vit_studio.engine.training.pipeline import RunRequest, prepare_run, run
from vit_studio.engine.training.validation import plain_inputs

PROBE_L2 = 1e-2  # on the mean cross-entropy, as for the pixels' logistic regression


@dataclass
class Measured:
    folder: str
    seed: int
    ours: float
    base: float | None
    probe: float
    pixels: float
    minutes: float
    smallest: int
    notes: list[str]

    @property
    def best_control(self) -> float:
        return max(v for v in (self.base, self.probe, self.pixels) if v is not None)


def error_ratio(ours: float, control: float) -> float:
    return (1 - ours) / max(1 - control, 1e-9)


def labelled(folder: Path, base: StudioModel) -> tuple:
    """(cached images at the base model's size, labels in the folder's class order, scan)."""
    scan = scan_folder(folder, val_share=0.0, verify=False)
    cached = cache_images(scan.train, base.meta.preprocessing.resize_size, root=scan.root)
    return cached, scan


def base_control(base: StudioModel, train: Path, test: Path) -> float | None:
    """The untouched base on `test`, its scores restricted to the folder's classes."""
    scan = scan_folder(train, val_share=0.0, verify=False)
    columns = match_class_names(scan.class_names, base.meta.class_names)
    if columns is None:
        return None
    cached, _ = labelled(test, base)
    probabilities = evaluate(base, _relabelled(cached, columns)).probabilities
    restricted = probabilities[:, list(columns)]
    return float((restricted.argmax(1) == cached.labels.numpy()).mean())


def _relabelled(cached, columns: tuple[int, ...]):
    """`cached` with labels in the base model's class indices (what `evaluate` checks)."""
    return replace(cached, labels=torch.tensor(columns)[cached.labels])


@torch.no_grad()
def frozen_features(base: StudioModel, images: torch.Tensor) -> torch.Tensor:
    """What the base model's head sees for each image (its input, by a forward hook)."""
    prepare = plain_inputs(base)
    captured: list[torch.Tensor] = []
    hook = base.module.heads.head.register_forward_pre_hook(
        lambda _head, inputs: captured.append(inputs[0].float())
    )
    base.module.eval()
    try:
        for chunk in images.split(256):
            base.module(prepare(chunk))
    finally:
        hook.remove()
    return torch.cat(captured)


def probe_control(base: StudioModel, train: Path, test: Path) -> float:
    """Logistic regression on the base model's frozen features (the head's inputs)."""
    fit_images, fit_scan = labelled(train, base)
    test_images, _ = labelled(test, base)
    with torch.enable_grad():
        weight, bias = fit_logistic_regression(
            frozen_features(base, fit_images.images), fit_images.labels,
            len(fit_scan.class_names), PROBE_L2,
        )  # fmt: skip
    scores = frozen_features(base, test_images.images) @ weight.T + bias
    return float((scores.argmax(1) == test_images.labels).float().mean())


def pixel_control(train: Path, test: Path) -> float:
    everything = scan_folder(train, val_share=0.0, verify=False)
    test_scan = scan_folder(test, val_share=0.0, verify=False)
    return pixel_baseline(
        cache_images(everything.train, 32, root=everything.root),
        cache_images(test_scan.train, 32, root=test_scan.root),
        len(everything.class_names),
    )


def measure(folder: Folder, work: Path, base_path: Path, seed: int) -> Measured:
    root = work / folder.slug
    train, test = root / "train", root / "test"
    if not (root / ".built").is_file():
        folder.build(train, test, np.random.default_rng(len(folder.name)))
        (root / ".built").write_text("ok")
    out = work / "runs" / f"{folder.slug}-seed{seed}" / f"{folder.slug}.safetensors"
    notes: list[str] = []
    settings = {"device": "cpu"} | ({"seed": seed} if seed else {})
    started = time.monotonic()
    shutil.rmtree(out.parent, ignore_errors=True)  # a fresh run, not a resumed one
    prepared = prepare_run(RunRequest("finetune", train, out, settings, base_path))
    notes += prepared.plan.explain() if prepared.plan is not None else []
    run(prepared)
    minutes = (time.monotonic() - started) / 60.0
    ours = evaluate_folder(load_studio_model(out), test).result.accuracy
    base = load_studio_model(base_path)
    smallest = min(n for n, _ in scan_folder(train, val_share=0.0).class_counts().values())
    return Measured(
        folder=folder.name,
        seed=seed,
        ours=ours,
        base=base_control(base, train, test),
        probe=probe_control(base, train, test),
        pixels=pixel_control(train, test),
        minutes=minutes,
        smallest=smallest,
        notes=notes,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).parents[2] / "shared")
    parser.add_argument("--work", type=Path, help="where the folders go (default: a temp dir)")
    parser.add_argument("--only", nargs="*", help="folder slugs to run (default: all)")
    parser.add_argument("--seeds", type=int, default=1, help="training seeds per folder")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument("--verbose", action="store_true", help="print each run's settings")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    base_path = model_or_default(None)
    chosen = [f for f in folders(args.shared) if not args.only or f.slug in args.only]
    print(f"folders in {work}; torch threads {torch.get_num_threads()}; base: {base_path.name}")
    header = (f"{'folder':30} {'ours':>6} {'base':>6} {'probe':>6} {'pixels':>6} "
              f"{'vs best':>7} {'vs px':>6} {'min':>5}")  # fmt: skip
    print(header)
    results: list[Measured] = []
    for folder in chosen:
        missing = folder.missing()
        if missing:
            print(f"{folder.name:30} skipped: {missing[0]} is missing (apt-get install "
                  f"{SYSTEM_PACKAGES}, or --shared)")  # fmt: skip
            continue
        runs = [measure(folder, work, base_path, seed) for seed in range(args.seeds)]
        results += runs
        if args.verbose:
            print("\n".join(runs[0].notes))
        mean = statistics.fmean
        ours = mean(r.ours for r in runs)
        base = runs[0].base
        first = runs[0]
        target = "" if first.smallest >= 20 else "  (under 20 a class: no target)"
        base_text = f"{base:6.1%}" if base is not None else f"{'-':>6}"
        print(
            f"{folder.name:30} {ours:6.1%} {base_text} {first.probe:6.1%} {first.pixels:6.1%} "
            f"{error_ratio(ours, first.best_control):6.2f}x "
            f"{error_ratio(ours, first.pixels):5.2f}x {mean(r.minutes for r in runs):5.1f}"
            f"{target}",
            flush=True,
        )
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))


if __name__ == "__main__":
    main()
