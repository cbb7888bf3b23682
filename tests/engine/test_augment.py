"""Batched augmentation: per-sample randomness on the batch's device, seeded, resumable."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from vit_studio.engine.augment import TRIVIAL_OPS, AugmentConfig, BatchAugmenter, normalize_images
from vit_studio.engine.errors import StudioError

MEAN = (0.5, 0.4, 0.3)
STD = (0.25, 0.2, 0.3)
CLASSES = 4


def batch(n=8, size=32, seed=0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, size, size), generator=generator, dtype=torch.uint8)
    labels = torch.arange(n) % CLASSES
    return images, labels


def augmenter(config, out_size=32, seed=0):
    return BatchAugmenter(
        config, out_size=out_size, mean=MEAN, std=STD, num_classes=CLASSES, device="cpu", seed=seed
    )


def only(**changes):
    """Everything off except `changes`."""
    return replace(AugmentConfig.off(), **changes)


def unnormalize(x):
    return x * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1)


def test_off_only_normalises_and_keeps_hard_labels():
    images, labels = batch()
    x, targets = augmenter(AugmentConfig.off())(images, labels)
    expected = (images.float() / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(
        STD
    ).view(1, 3, 1, 1)
    torch.testing.assert_close(x, expected, rtol=0, atol=1e-6)
    assert torch.equal(targets, labels)


def test_off_resizes_to_the_model_size():
    images, labels = batch(size=40)
    x, _ = augmenter(AugmentConfig.off(), out_size=32)(images, labels)
    torch.testing.assert_close(x, normalize_images(images, MEAN, STD, 32))
    assert x.shape == (8, 3, 32, 32)


def test_strong_default_gives_float_batch_and_soft_targets():
    images, labels = batch(n=16, size=40)
    x, targets = augmenter(AugmentConfig(), out_size=32)(images, labels)
    assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32
    assert torch.isfinite(x).all()
    assert targets.shape == (16, CLASSES) and targets.dtype == torch.float32
    assert (targets >= 0).all()
    torch.testing.assert_close(targets.sum(1), torch.ones(16))


def test_same_seed_same_batch_other_seed_other_batch():
    images, labels = batch()
    first = augmenter(AugmentConfig(), seed=7)(images, labels)
    again = augmenter(AugmentConfig(), seed=7)(images, labels)
    other = augmenter(AugmentConfig(), seed=8)(images, labels)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])
    assert not torch.equal(first[0], other[0])


def test_each_sample_draws_its_own_parameters():
    image, label = batch(n=1)
    images, labels = image.repeat(8, 1, 1, 1), label.repeat(8)
    x, _ = augmenter(only(crop_scale=(0.2, 1.0), trivial_augment=True))(images, labels)
    distinct = {tuple(sample.flatten()[:64].tolist()) for sample in x}
    assert len(distinct) == 8


def test_flip_really_flips():
    images, labels = batch()
    x, _ = augmenter(only(hflip=1.0))(images, labels)
    torch.testing.assert_close(x, normalize_images(images.flip(-1), MEAN, STD), rtol=0, atol=1e-5)


def test_full_area_crop_is_the_identity():
    images, labels = batch()
    x, _ = augmenter(only(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0)))(images, labels)
    torch.testing.assert_close(x, normalize_images(images, MEAN, STD), rtol=0, atol=1e-5)


def test_trivial_augment_keeps_pixels_in_the_image_range():
    images, labels = batch(n=256)  # every one of the 14 ops is drawn many times
    x, _ = augmenter(only(trivial_augment=True))(images, labels)
    pixels = unnormalize(x)
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5


def test_magnitude_free_trivial_ops_match_torchvision():
    images, _ = batch(n=4)
    x = images.float() / 255
    aug = augmenter(only(trivial_augment=True))
    draws = torch.rand(4, 16)
    for name, reference in (("equalize", TF.equalize), ("autocontrast", TF.autocontrast)):
        ops = torch.full((4,), TRIVIAL_OPS.index(name))
        torch.testing.assert_close(aug._colour(x, draws, ops), reference(x), rtol=0, atol=1e-6)
    identity = torch.full((4,), TRIVIAL_OPS.index("identity"))
    assert torch.equal(aug._colour(x, draws, identity), x)


def test_sharpness_blurs_inside_and_keeps_the_border_like_torchvision():
    images, _ = batch(n=4)
    x = images.float() / 255
    draws = torch.zeros(4, 16)
    draws[:, 6] = 0.5  # magnitude: factor 1.495 ...
    draws[:, 7] = 0.9  # ... with a positive sign
    ops = torch.full((4,), TRIVIAL_OPS.index("sharpness"))
    expected = TF.adjust_sharpness(x, 1 + 0.99 * 0.5)
    torch.testing.assert_close(augmenter(AugmentConfig())._colour(x, draws, ops), expected)


def test_mixup_blends_each_image_with_its_partner_and_targets_sum_to_one():
    images, labels = batch(n=4)  # labels 0..3: every partner has another label
    x, targets = augmenter(only(mixup_alpha=1.0))(images, labels)
    torch.testing.assert_close(targets.sum(1), torch.ones(4))
    lam = targets[0, labels[0]].item()
    assert 0 < lam < 1
    assert targets[0, labels[3]].item() == pytest.approx(1 - lam)
    plain = normalize_images(images, MEAN, STD)
    torch.testing.assert_close(x[0], lam * plain[0] + (1 - lam) * plain[3], rtol=0, atol=1e-5)


def test_cutmix_pastes_a_box_and_weights_targets_by_its_area():
    images, labels = batch(n=4)
    for seed in range(5):
        x, targets = augmenter(only(cutmix_alpha=1.0), seed=seed)(images, labels)
        plain = normalize_images(images, MEAN, STD)
        from_partner = (x[0] != plain[0]).any(0) & (x[0] == plain[3]).all(0)
        torch.testing.assert_close(targets.sum(1), torch.ones(4))
        share = from_partner.float().mean().item()
        assert targets[0, labels[3]].item() == pytest.approx(share, abs=1e-6)


def test_random_erasing_fills_one_box_per_sample():
    images, labels = batch()
    x, _ = augmenter(only(erasing=1.0))(images, labels)
    changed = (x != normalize_images(images, MEAN, STD)).any(1)
    for mask in changed:
        rows, cols = mask.any(1).nonzero(), mask.any(0).nonzero()
        box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        assert mask.sum() > 0 and mask.sum() == box


def test_reseed_restarts_the_same_random_streams():
    images, labels = batch()
    aug = augmenter(AugmentConfig(), seed=3)
    first = aug(images, labels)
    aug(images, labels)
    aug.reseed(3)
    again = aug(images, labels)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])


def test_a_cifar_sized_batch_runs_on_the_cpu():
    images, labels = batch(n=256)
    x, targets = augmenter(AugmentConfig())(images, labels)
    assert np.isfinite(x.numpy()).all() and targets.shape == (256, CLASSES)


@pytest.mark.parametrize(
    "changes",
    [{"hflip": 1.5}, {"erasing": -0.1}, {"mixup_alpha": -1.0}, {"crop_scale": (0.5, 0.2)}],
)
def test_bad_settings_are_refused(changes):
    with pytest.raises(StudioError):
        AugmentConfig(**changes)


def test_presets_by_name():
    assert AugmentConfig.preset("off") == AugmentConfig.off()
    assert not AugmentConfig.preset("light").mixes
    assert AugmentConfig.preset("strong").mixes
    with pytest.raises(StudioError, match="choose one of"):
        AugmentConfig.preset("extreme")
