"""Shared fixtures: tiny random ViTs and generated images, so no test downloads anything."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from vit_studio.engine.model import (  # noqa: E402
    ModelMeta,
    Preprocessing,
    StudioModel,
    ViTArch,
    build_vit,
    default_class_names,
    make_model,
)

SHARED = Path(__file__).resolve().parents[2] / "shared"
CIFAR_TRAIN = SHARED / "datasets" / "cifar10" / "train"

TINY_ARCH = ViTArch(
    image_size=32, patch_size=8, num_layers=3, num_heads=4, hidden_dim=32, mlp_dim=64,
    num_classes=5,
)


def random_model(arch: ViTArch = TINY_ARCH, seed: int = 0, name: str = "tiny") -> StudioModel:
    """A randomly initialised model whose position embeddings and head are not trivial."""
    torch.manual_seed(seed)
    module = build_vit(arch)
    with torch.no_grad():
        # torchvision zero-initialises the head; random weights make every logit informative.
        module.heads.head.weight.normal_(std=0.2)
        module.heads.head.bias.normal_(std=0.2)
    meta = ModelMeta(
        name=name,
        class_names=default_class_names(arch.num_classes),
        preprocessing=Preprocessing.for_image_size(arch.image_size),
        provenance={"source": "random test model"},
    )
    return make_model(module, arch, meta)


@pytest.fixture
def tiny_model() -> StudioModel:
    return random_model()


def uncounted_heads_checkpoint(path: Path) -> Path:
    """A torchvision ViT state dict of 4 heads of 32 at `path`: its width (128) is no published
    ViT's, so nothing tells its head count (the usual guess, width / 64, would say 2)."""
    torch.manual_seed(0)
    vit = torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=1, num_heads=4, hidden_dim=128, mlp_dim=128,
        num_classes=5,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(vit.state_dict(), path)
    return path


def write_image(path: Path, size: tuple[int, int] = (40, 30), seed: int = 0, mode: str = "RGB"):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB")
    if mode != "RGB":
        image = image.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    return write_image(tmp_path / "photo.png")


@pytest.fixture
def cifar_train() -> Path:
    if not CIFAR_TRAIN.is_dir():
        pytest.skip("../shared/datasets/cifar10 is not present")
    return CIFAR_TRAIN


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 4 MiB file system (tmpfs): filled with `fill_disk`, writes fail on it as they fail
    on a full disk ("No space left on device"), whatever library writes. Skips where mounting is
    not allowed."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True
        )
    except FileNotFoundError:
        pytest.skip("no mount command here")
    if done.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root: " + done.stderr.decode().strip())
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill_disk(disk: Path) -> None:
    """Fill the file system of `disk` to its last byte."""
    with open(disk / "filler", "wb", buffering=0) as handle, pytest.raises(OSError):
        while True:
            handle.write(b"\0" * 65536)


@pytest.fixture(autouse=True, scope="session")
def _own_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Image caches and check records go to a folder of the test run, never the user's cache
    (subprocesses the tests start inherit it)."""
    from vit_studio.engine.data.location import CACHE_DIR_VARIABLE

    os.environ[CACHE_DIR_VARIABLE] = str(tmp_path_factory.mktemp("vit-studio-cache"))
