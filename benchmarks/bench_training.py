"""Training throughput of `engine.training.train` vs a minimal plain PyTorch loop, same run.

    python benchmarks/bench_training.py [--device auto|cpu|cuda] [--arch micro] [--batch-size 128]
                                        [--steps 10] [--precision auto] [--compile] [--repeats 2]

Both loops train the same model (same init) on the same synthetic uint8 images held on the device,
with AdamW, cross-entropy and the same autocast. The plain loop slices a random batch, scales and
normalises it, and steps; ours is `train` with augmentation off, no clipping, no smoothing (the
fair comparison, target ratio >= 0.9), then `train` with its defaults (strong augmentation,
clipping, label smoothing) for information. Each loop runs two epochs of --steps steps and the
second is timed; the loops alternate --repeats times and the best of each counts. "data" is the
time to index and augment one batch alone (synchronised), as a share of our step (target
<= 10 %): augmentation runs on the training device in the step's own stream, so it is all of the
time the model waits for data.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch
import torch.nn.functional as F

from vit_studio.engine.augment import AugmentConfig, BatchAugmenter, normalize_images
from vit_studio.engine.data import CachedImages
from vit_studio.engine.device import resolve_device
from vit_studio.engine.training import (
    ARCH_PRESETS,
    PRECISIONS,
    TrainCallbacks,
    TrainConfig,
    autocast_dtype,
    new_model,
    preset_arch,
    train,
)

CLASSES = 10


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def plain_loop(model, images, labels, config, device, amp_dtype, steps) -> float:
    """Images per second of the timed second pass of a textbook loop."""
    module = model.module.to(device).train()
    forward = torch.compile(module) if config.compile else module
    fused = {"fused": True} if device.type == "cuda" else {}
    optimizer = torch.optim.AdamW(
        module.parameters(), lr=config.lr, weight_decay=config.weight_decay, **fused
    )
    pre = model.meta.preprocessing
    batch = config.batch_size
    seconds = 0.0
    for _ in range(2):
        synchronize(device)
        started = time.perf_counter()
        order = torch.randperm(len(labels), device=device)
        for step in range(steps):
            index = order[step * batch : (step + 1) * batch]
            x = normalize_images(images[index], pre.mean, pre.std)
            with torch.autocast(
                device.type, dtype=amp_dtype or torch.float32, enabled=bool(amp_dtype)
            ):
                logits = forward(x)
            loss = F.cross_entropy(logits.float(), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        loss.item()
        synchronize(device)
        seconds = time.perf_counter() - started
    return steps * batch / seconds


def our_loop(model, data, config) -> float:
    epochs = []
    train(model, data, None, config, callbacks=TrainCallbacks(on_epoch=epochs.append))
    return epochs[-1].images_per_s


def data_ms(images, labels, config, model, device, steps) -> float:
    """Milliseconds to index and augment one batch, alone and synchronised."""
    pre = model.meta.preprocessing
    augmenter = BatchAugmenter(
        config.augment, out_size=model.arch.image_size, mean=pre.mean, std=pre.std,
        num_classes=CLASSES, device=device, compile=config.compile,
    )  # fmt: skip
    order = torch.randperm(len(labels), device=device)
    batch = config.batch_size
    for _ in range(2):
        augmenter(images[order[:batch]], labels[order[:batch]])
    synchronize(device)
    started = time.perf_counter()
    for step in range(steps):
        index = order[step * batch : (step + 1) * batch]
        augmenter(images[index], labels[index])
    synchronize(device)
    return (time.perf_counter() - started) * 1000.0 / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--arch", default="micro", choices=tuple(ARCH_PRESETS))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10, help="timed steps per loop")
    parser.add_argument("--precision", default="auto", choices=PRECISIONS)
    parser.add_argument("--compile", action="store_true", help="torch.compile both loops")
    parser.add_argument("--repeats", type=int, default=2, help="alternations of the loops")
    args = parser.parse_args()
    device = resolve_device(args.device)

    arch = preset_arch(args.arch, CLASSES)
    count = args.steps * args.batch_size
    generator = torch.Generator().manual_seed(0)
    size = arch.image_size
    images = torch.randint(0, 256, (count, 3, size, size), generator=generator, dtype=torch.uint8)
    labels = torch.randint(0, CLASSES, (count,), generator=generator)
    data = CachedImages(images=images, labels=labels, paths=(), skipped=())
    names = tuple(str(k) for k in range(CLASSES))
    fair = TrainConfig(
        epochs=2, batch_size=args.batch_size, lr=1e-4, warmup_epochs=0, label_smoothing=0.0,
        grad_clip=None, augment=AugmentConfig.off(), device=str(device),
        precision=args.precision, compile=args.compile,
    )  # fmt: skip
    strong = replace(fair, augment=AugmentConfig(), label_smoothing=0.1, grad_clip=1.0)
    amp_dtype = autocast_dtype(args.precision, device)
    on_device = images.to(device), labels.to(device)

    best = {"plain": 0.0, "ours": 0.0, "ours strong": 0.0}
    for _ in range(args.repeats):
        best["plain"] = max(best["plain"], plain_loop(
            new_model(arch, names), *on_device, fair, device, amp_dtype, args.steps
        ))  # fmt: skip
        best["ours"] = max(best["ours"], our_loop(new_model(arch, names), data, fair))
        best["ours strong"] = max(
            best["ours strong"], our_loop(new_model(arch, names), data, strong)
        )
    model = new_model(arch, names)
    off_ms = data_ms(*on_device, fair, model, device, args.steps)
    strong_ms = data_ms(*on_device, strong, model, device, args.steps)

    precision = "fp32" if amp_dtype is None else f"{amp_dtype}".removeprefix("torch.") + " autocast"
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else (f"{torch.get_num_threads()} CPU threads")
    )
    print(
        f"{args.arch} ({model.num_parameters() / 1e6:.2f}M params, {size}px, "
        f"{arch.num_tokens} tokens) on {device} ({where}), batch {args.batch_size}, "
        f"{args.steps} timed steps, {precision}{', compiled' if args.compile else ''}, "
        f"torch {torch.__version__}"
    )
    plain = best["plain"]
    print(f"plain PyTorch loop                  {plain:9.0f} img/s   1.00")
    print(f"ours, augmentation off (fair)       {best['ours']:9.0f} img/s   "
          f"{best['ours'] / plain:.2f}  (target >= 0.90)")  # fmt: skip
    print(f"ours, strong augmentation + clip    {best['ours strong']:9.0f} img/s   "
          f"{best['ours strong'] / plain:.2f}")  # fmt: skip
    for label, ms, rate in (
        ("off", off_ms, best["ours"]),
        ("strong", strong_ms, best["ours strong"]),
    ):
        step_ms = 1000.0 * args.batch_size / rate
        print(f"data per step, augmentation {label:<6}  {ms:9.2f} ms    "
              f"{ms / step_ms:.1%} of the step (target <= 10 %)")  # fmt: skip


if __name__ == "__main__":
    main()
