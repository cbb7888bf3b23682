"""Fine-tuning with the default settings against the obvious baseline, on user-style folders.

    python benchmarks/bench_finetune.py [--shared ../shared] [--work DIR] [--only NAME ...]

Builds folders of the kind users bring, runs `vit-studio finetune FOLDER` with no options (the
engine pipeline, in process, on the CPU, with the bundled model), scores the kept model on test
images that are not in the folder (`evaluate_folder`), and fits logistic regression on the raw
32 × 32 pixels of the same folder (`training.baseline`, the same images the fine-tune had:
its training and validation split together) for the same test images. It prints, per folder,
both accuracies, the error ratio (our errors / the baseline's; below 1 is better) and the
minutes the fine-tune took.

The CIFAR folders draw only on the bundled model's own held-out split (the 10 % of
../shared/datasets/cifar10/train it never trained on, 500 images a class): a folder of images
the model has already learned would flatter it. The glyph folder is a different kind of image
altogether: letters rendered at random sizes, places, angles and strokes, with noise, grayscale,
64 px. These
folders measure; the defaults are not tuned to any one of them.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps

from vit_studio.engine.data import cache_images, scan_folder
from vit_studio.engine.model import load_studio_model
from vit_studio.engine.training import evaluate_folder
from vit_studio.engine.training.baseline import pixel_baseline
from vit_studio.engine.training.pipeline import RunRequest, prepare_run, run

TEST_PER_CLASS = 50
VEHICLES = ("airplane", "automobile", "ship", "truck")


@dataclass(frozen=True)
class Folder:
    name: str
    what: str
    build: Callable[[Path, Path], None]  # (train folder, test folder) -> writes the images


def held_out(shared: Path) -> dict[str, list[Path]]:
    """The bundled model's held-out CIFAR-10 images, by class (its training split: seed 0)."""
    scan = scan_folder(shared / "datasets" / "cifar10" / "train", val_share=0.1, seed=0)
    by_class: dict[str, list[Path]] = {name: [] for name in scan.class_names}
    for item in scan.val:
        by_class[scan.class_names[item.label]].append(item.path)
    return by_class


def write(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def cifar_folder(
    images: dict[str, list[Path]],
    counts: Callable[[int, str], int],
    *,
    classes: Callable[[str], str] = lambda name: name,
    size: int | None = None,
    gray: bool = False,
) -> Callable[[Path, Path], None]:
    """A folder of `counts(k, class)` held-out images per class (renamed by `classes`), the
    next `TEST_PER_CLASS` as its test images; resized to `size` px and/or made grayscale."""

    def build(train: Path, test: Path) -> None:
        for k, (name, paths) in enumerate(sorted(images.items())):
            count = counts(k, name)
            for index, path in enumerate(paths[: count + TEST_PER_CLASS]):
                image = Image.open(path).convert("RGB")
                if gray:
                    image = ImageOps.grayscale(image).convert("RGB")
                if size is not None:
                    image = image.resize((size, size), Image.Resampling.BICUBIC)
                target = train if index < count else test
                suffix = ".png" if gray or size else ".jpg"
                write(image, target / classes(name) / f"{name}-{index:03d}{suffix}")

    return build


def glyph_folder(per_class: int) -> Callable[[Path, Path], None]:
    """Letters A-J at random sizes, places, angles and strokes, with noise: 64 px gray PNGs."""
    rng = np.random.default_rng(0)

    def build(train: Path, test: Path) -> None:
        for letter in "ABCDEFGHIJ":
            for index in range(per_class + TEST_PER_CLASS):
                size = int(rng.integers(26, 52))
                font = ImageFont.load_default(size=size)
                canvas = Image.new("L", (96, 96), int(rng.integers(0, 60)))
                draw = ImageDraw.Draw(canvas)
                x, y = rng.integers(18, 40, size=2)
                draw.text((int(x), int(y)), letter, fill=int(rng.integers(170, 256)), font=font,
                          stroke_width=int(rng.integers(0, 3)))  # fmt: skip
                canvas = canvas.rotate(float(rng.uniform(-25, 25)), resample=Image.BILINEAR)
                noise = rng.normal(0, 12, (96, 96))
                pixels = np.clip(np.asarray(canvas, float) + noise, 0, 255).astype(np.uint8)
                image = Image.fromarray(pixels).resize((64, 64)).convert("RGB")
                target = train if index < per_class else test
                write(image, target / letter / f"{letter}-{index:03d}.png")

    return build


def centred_digit_folder(per_class: int) -> Callable[[Path, Path], None]:
    """Digits 0-9 drawn near the centre, a little jittered, thickened, turned and noisy: 64 px
    gray PNGs. Aligned like scanned forms, so the raw pixels already say much."""
    rng = np.random.default_rng(1)

    def build(train: Path, test: Path) -> None:
        for digit in "0123456789":
            for index in range(per_class + TEST_PER_CLASS):
                font = ImageFont.load_default(size=int(rng.integers(40, 56)))
                canvas = Image.new("L", (64, 64), 0)
                draw = ImageDraw.Draw(canvas)
                dx, dy = rng.integers(-3, 4, size=2)
                draw.text((32 + int(dx), 32 + int(dy)), digit, fill=255, font=font, anchor="mm",
                          stroke_width=int(rng.integers(0, 3)), stroke_fill=255)  # fmt: skip
                canvas = canvas.rotate(float(rng.uniform(-10, 10)), resample=Image.BILINEAR)
                noise = rng.normal(0, 20, (64, 64))
                pixels = np.clip(np.asarray(canvas, float) + noise, 0, 255).astype(np.uint8)
                target = train if index < per_class else test
                write(Image.fromarray(pixels).convert("RGB"), target / digit / f"{index:03d}.png")

    return build


def folders(images: dict[str, list[Path]]) -> list[Folder]:
    return [
        Folder("cifar 10 x 20", "10 classes, 20 images each, 32 px JPEG",
               cifar_folder(images, lambda k, n: 20)),
        Folder("cifar gray 10 x 60, 64 px", "grayscale saved as RGB PNG at 64 px, 60 each",
               cifar_folder(images, lambda k, n: 60, size=64, gray=True)),
        Folder("cifar 2 classes x 100", "vehicles / animals merged, 100 images a class",
               cifar_folder(images, lambda k, n: 25 if n in VEHICLES else 17,
                            classes=lambda n: "vehicle" if n in VEHICLES else "animal")),
        Folder("cifar imbalanced 5-200", "10 classes from 5 to 200 images",
               cifar_folder(images, lambda k, n: round(5 * 40 ** (k / 9)))),
        Folder("cifar 10 x 100, 128 px", "100 each, upscaled to 128 px PNG",
               cifar_folder(images, lambda k, n: 100, size=128)),
        Folder("glyphs 10 x 40, 64 px", "rendered letters, grayscale: not photos at all",
               glyph_folder(40)),
        Folder("digits 10 x 60, 64 px", "centred digits, gray: the pixels alone do well",
               centred_digit_folder(60)),
        Folder("cifar 10 x 5", "5 images a class (too few for the ratio target)",
               cifar_folder(images, lambda k, n: 5)),
    ]  # fmt: skip


def measure(folder: Folder, work: Path) -> tuple[float, float, float, int]:
    """(our test accuracy, the pixel baseline's, minutes, smallest class) for `folder`."""
    train, test = work / folder.name.replace(" ", "_") / "train", work / "test" / folder.name
    folder.build(train, test)
    out = work / "runs" / f"{folder.name.replace(' ', '_')}.safetensors"
    started = time.monotonic()
    prepared = prepare_run(RunRequest("finetune", train, out, {"device": "cpu"}))
    run(prepared)
    minutes = (time.monotonic() - started) / 60.0
    model = load_studio_model(out)
    ours = evaluate_folder(model, test).result.accuracy
    everything = scan_folder(train, val_share=0.0)
    test_scan = scan_folder(test, val_share=0.0)
    baseline = pixel_baseline(
        cache_images(everything.train, 32), cache_images(test_scan.train, 32),
        len(everything.class_names),
    )  # fmt: skip
    smallest = min(n for n, _ in everything.class_counts().values())
    return ours, baseline, minutes, smallest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).parents[2] / "shared")
    parser.add_argument("--work", type=Path, help="where the folders go (default: a temp dir)")
    parser.add_argument("--only", nargs="*", help="folder names to run (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    chosen = [f for f in folders(held_out(args.shared)) if not args.only or f.name in args.only]
    print(f"folders in {work}; test: {TEST_PER_CLASS} other images a class; torch threads "
          f"{torch.get_num_threads()}")  # fmt: skip
    print(f"{'folder':28} {'ours':>7} {'pixels':>7} {'errors':>7} {'min':>5}  note")
    for folder in chosen:
        ours, baseline, minutes, smallest = measure(folder, work)
        ratio = (1 - ours) / max(1 - baseline, 1e-9)
        target = "target <= 0.8" if smallest >= 20 else "under 20 a class: no target"
        print(f"{folder.name:28} {ours:7.1%} {baseline:7.1%} {ratio:6.2f}x {minutes:5.1f}  "
              f"{target}; {folder.what}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
