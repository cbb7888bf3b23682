"""Folder analysis end to end (`analyze FOLDER --csv`'s engine call) against a plain batched
torchvision forward of the same model on the same files, side by side and interleaved.

    python benchmarks/bench_folder_analysis.py [--folder DIR | --images N [--generated WxH]]
        [--model PATH | --random-vit ti] [--batch-size B] [--device cpu|cuda] [--repeats 3]

Ours: list the folder, decode and preprocess in the engine's thread pool, batched forwards, top-5,
every row streamed to a CSV file. Plain: PIL decode and torchvision transforms (Resize,
CenterCrop, ToTensor, Normalize, as the model's metadata prescribes) one file after the other,
stacked in batches of B and forwarded through a stock `torchvision.models.VisionTransformer`
holding the same weights under inference_mode; no CSV. Prints images/s of both and the ratio
ours/plain (target >= 0.8). Without --folder a folder of N images is made: CIFAR-10 training
images from ../shared/datasets/cifar10/train when it is there (class subfolders, as an
ImageFolder tree), else (or with --generated) random-noise JPEGs of WxH pixels.

`folder_throughput(folder, model, batch_size)` is the measurement, for other scripts to import.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import timing  # benchmarks/timing.py: the scripts run from this folder
import torch
import torchvision
from PIL import Image
from torch import nn
from torchvision import transforms

from vit_studio.engine.batch import default_batch_size, default_decode_workers
from vit_studio.engine.checkpoints import load_model
from vit_studio.engine.model import (
    ModelMeta,
    Preprocessing,
    StudioModel,
    ViTArch,
    build_vit,
    default_class_names,
    make_model,
)
from vit_studio.engine.predictions_csv import images_in_tree, write_predictions_csv
from vit_studio.engine.resources import default_model_path

CIFAR_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10" / "train"
VIT_TI_16 = ViTArch(image_size=224, patch_size=16, num_layers=12, num_heads=3, hidden_dim=192,
                    mlp_dim=768, num_classes=1000)  # fmt: skip
_INTERPOLATION = {
    "nearest": transforms.InterpolationMode.NEAREST,
    "bilinear": transforms.InterpolationMode.BILINEAR,
    "bicubic": transforms.InterpolationMode.BICUBIC,
}


def plain_pipeline(model: StudioModel, batch_size: int):
    """The baseline as anyone would write it with torchvision alone: a function of a file list."""
    pre = model.meta.preprocessing
    preprocess = transforms.Compose([
        transforms.Resize(pre.resize_size, interpolation=_INTERPOLATION[pre.interpolation]),
        transforms.CenterCrop(pre.crop_size),
        transforms.ToTensor(),
        transforms.Normalize(pre.mean, pre.std),
    ])  # fmt: skip
    vit = torchvision.models.VisionTransformer(
        **model.arch.torchvision_kwargs(), norm_layer=partial(nn.LayerNorm, eps=model.arch.norm_eps)
    )
    vit.load_state_dict(model.module.state_dict())
    vit = vit.eval().to(model.device)

    def run(paths: list[Path]) -> None:
        with torch.inference_mode():
            for start in range(0, len(paths), batch_size):
                chunk = paths[start : start + batch_size]
                batch = torch.stack([preprocess(Image.open(p).convert("RGB")) for p in chunk])
                vit(batch.to(model.device))

    return run


def folder_throughput(
    folder: Path, model: StudioModel, batch_size: int, repeats: int = 3
) -> tuple[float, float]:
    """(ours, plain) images per second on every image of `folder` (and its subfolders): the
    medians of `repeats` interleaved runs after one warm-up run each."""
    paths = [entry.path for entry in images_in_tree(folder)]
    plain = plain_pipeline(model, batch_size)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "predictions.csv"

        def ours() -> None:
            write_predictions_csv(out, model, images_in_tree(folder), batch_size=batch_size)

        seconds = timing.interleaved(
            {"ours": ours, "plain": lambda: plain(paths)}, repeats, model.device
        )
    return len(paths) / seconds["ours"], len(paths) / seconds["plain"]


def make_folder(target: Path, count: int, generated: tuple[int, int] | None) -> str:
    """`count` images in `target`; says where they came from."""
    if generated is None and CIFAR_TRAIN.is_dir():
        classes = sorted(p for p in CIFAR_TRAIN.iterdir() if p.is_dir())
        files = [sorted(c.iterdir()) for c in classes]
        # Round robin over the classes, so any count is a balanced ImageFolder tree.
        for path in itertools.islice(
            (f for group in itertools.zip_longest(*files) for f in group if f), count
        ):
            (target / path.parent.name).mkdir(parents=True, exist_ok=True)
            (target / path.parent.name / path.name).write_bytes(path.read_bytes())
        return f"CIFAR-10 training images (32x32 JPEG, {len(classes)} class folders)"
    width, height = generated or (500, 375)
    rng = np.random.default_rng(0)
    target.mkdir(parents=True, exist_ok=True)
    for k in range(count):
        # Smooth noise: it compresses like a photo rather than like static.
        small = rng.integers(0, 256, size=(height // 8, width // 8, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR)
        image.save(target / f"{k:05d}.jpg", quality=90)
    return f"generated {width}x{height} JPEGs"


def random_vit(arch: ViTArch, name: str) -> StudioModel:
    torch.manual_seed(0)
    meta = ModelMeta(
        name=name,
        class_names=default_class_names(arch.num_classes),
        preprocessing=Preprocessing.for_image_size(arch.image_size),
        provenance={"source": "random weights, for benchmarking"},
    )
    return make_model(build_vit(arch), arch, meta)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="a folder of images (default: made here)")
    parser.add_argument("--images", type=int, default=1000, help="images in the folder made")
    parser.add_argument("--generated", metavar="WxH", help="make noise JPEGs of WxH, not CIFAR")
    parser.add_argument("--model", help="a model file (default: the bundled model)")
    parser.add_argument("--random-vit", choices=["ti"], help="a random ViT-Ti/16 at 224 px")
    parser.add_argument("--batch-size", type=int, help="default: the engine's for the device")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.random_vit:
        model = random_vit(VIT_TI_16, "random ViT-Ti/16 224px").to(device)
    else:
        model = load_model(args.model or default_model_path()).to(device)
    batch_size = args.batch_size or default_batch_size(device)
    generated = tuple(int(v) for v in args.generated.split("x")) if args.generated else None
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.folder
        source = f"{folder}"
        if folder is None:
            folder = Path(scratch) / "images"
            source = make_folder(folder, args.images, generated)
        count = len(images_in_tree(folder))
        ours, plain = folder_throughput(folder, model, batch_size, args.repeats)
    threads = f"{torch.get_num_threads()} torch threads"
    print(f"{model.meta.name} ({model.arch.describe()}) on {device}, {threads}, "
          f"{default_decode_workers(device)} decoding threads")
    print(f"{count} images: {source}; batch {batch_size}; median of {args.repeats}, interleaved")
    print(f"ours  (analyze --csv engine, end to end)       {ours:10.1f} images/s")
    print(f"plain (PIL + torchvision transforms + stock ViT) {plain:8.1f} images/s")
    print(f"ratio ours/plain {ours / plain:.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()
