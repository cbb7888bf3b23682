"""The mirror test says a folder's classes change when mirrored where they do (a mark on the
left or the right) and not where they do not (stripes across or down), and its statistic is
McNemar's, computed longhand here."""

import math

import torch

from vit_studio.engine.training.mirror_test import Z_THRESHOLD, MirrorTest, mirror_test


def marked(count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0: a bright bar near the left edge; class 1: near the right edge. Mirrored, each
    is the other: mirroring changes the class."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 2
    images = torch.randint(0, 60, (count, 3, 32, 32), generator=generator, dtype=torch.uint8)
    for k, label in enumerate(labels.tolist()):
        column = int(torch.randint(2, 9, (1,), generator=generator))
        column = column if label == 0 else 31 - column
        images[k, :, 4:28, column : column + 2] = 230
    return images, labels


def hooks(count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0: an L (foot to the right), class 1: its mirror image (foot to the left), anywhere
    in the image. The shape, not the place, tells them apart."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 2
    images = torch.randint(0, 60, (count, 3, 32, 32), generator=generator, dtype=torch.uint8)
    for k, label in enumerate(labels.tolist()):
        top, left = (int(v) for v in torch.randint(2, 14, (2,), generator=generator))
        images[k, :, top : top + 16, left + 6 : left + 9] = 230  # the stem
        foot = slice(left + 6, left + 16) if label == 0 else slice(left, left + 9)
        images[k, :, top + 13 : top + 16, foot] = 230
    return images, labels


def striped(count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0: horizontal stripes; class 1: vertical stripes, at random phases. Mirrored, each
    is still itself."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 2
    rows = torch.arange(32).view(32, 1).expand(32, 32)
    images = torch.empty(count, 3, 32, 32, dtype=torch.uint8)
    for k, label in enumerate(labels.tolist()):
        phase = int(torch.randint(0, 6, (1,), generator=generator))
        along = rows if label == 0 else rows.T
        stripes = (((along + phase) // 3) % 2 * 180 + 30).to(torch.uint8)
        noise = torch.randint(0, 40, (32, 32), generator=generator, dtype=torch.uint8)
        images[k] = (stripes + noise).expand(3, 32, 32)
    return images, labels


def test_marks_on_one_side_change_class_when_mirrored():
    test = mirror_test(*marked(160), num_classes=2)
    assert test.plain_acc > 0.9 and test.mirrored_acc < 0.2
    assert test.z >= Z_THRESHOLD and not test.mirroring_keeps_class
    assert "mirrored" in test.describe()


def test_a_shape_and_its_mirror_image_are_told_apart_wherever_they_are():
    test = mirror_test(*hooks(160), num_classes=2)
    assert test.z >= Z_THRESHOLD and not test.mirroring_keeps_class


def test_stripes_keep_their_class_when_mirrored():
    test = mirror_test(*striped(160), num_classes=2)
    assert test.plain_acc > 0.9 and abs(test.plain_acc - test.mirrored_acc) < 0.05
    assert test.mirroring_keeps_class


def test_the_statistic_is_mcnemars():
    test = MirrorTest(images=100, plain_acc=0.7, mirrored_acc=0.5, only_plain=30, only_mirrored=10)
    assert test.z == (30 - 10) / math.sqrt(30 + 10)
    assert MirrorTest(10, 0.5, 0.5, 0, 0).z == 0.0  # no disagreement: no evidence
