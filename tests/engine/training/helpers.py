"""Shared by the training tests: an easy colour task, a small ViT, a quick config."""

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from vit_studio.engine.augment import AugmentConfig
from vit_studio.engine.data import CachedImages
from vit_studio.engine.model import ViTArch
from vit_studio.engine.training import (
    TrainCallbacks,
    TrainConfig,
    new_model,
)

CLASSES = ("red", "green", "blue")


SMALL = ViTArch(
    image_size=16, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
    num_classes=len(CLASSES),
)  # fmt: skip


def colour_images(n, seed=0, size=16):
    """An easy task: the class is the image's dominant colour channel."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % len(CLASSES)
    images = torch.randint(0, 90, (n, 3, size, size), generator=generator, dtype=torch.uint8)
    images[torch.arange(n), labels] += 150
    paths = tuple(Path(f"{CLASSES[k]}/{i}.png") for i, k in enumerate(labels.tolist()))
    return CachedImages(images=images, labels=labels, paths=paths, skipped=())


def config(**changes):
    base = TrainConfig(
        epochs=2, batch_size=16, lr=3e-3, warmup_epochs=0.5, device="cpu", precision="fp32",
        augment=AugmentConfig.light(),
    )  # fmt: skip
    return replace(base, **changes)


def fresh(seed=0):
    return new_model(SMALL, CLASSES, mean=(0.5,) * 3, std=(0.25,) * 3, seed=seed)


def same_weights(a, b):
    sa, sb = a.module.state_dict(), b.module.state_dict()
    return all(torch.equal(sa[k].cpu(), sb[k].cpu()) for k in sa)


def stop_after_epoch(epoch):
    """(callbacks, cancel) that cancel the run once `epoch` has finished."""
    done = {"epoch": 0}
    callbacks = TrainCallbacks(on_epoch=lambda info: done.update(epoch=info.epoch))
    return callbacks, lambda: done["epoch"] >= epoch


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
