"""Whether mirroring an image can change what it shows: measured on the folder, before a run.

A horizontal flip is a free extra training image when the classes look the same mirrored (cats,
textures, objects on a table) and a wrong label when they do not (a mirrored 2 is no 2, a
mirrored word is no word, a "b" mirrored is a "d"). The fine-tune decides from the images:

A quick probe is fitted to features that see shapes but not their mirror images: 96 fixed random
5 x 5 filters on the grayscale image, their positive and negative responses averaged over the
whole image and over its left and right halves (576 numbers: which shapes, and on which side;
the base model's own features do not serve, as a model trained with flips answers nearly alike
for an image and its mirror image). Each
training image is scored as it is and mirrored, by the probe fitted to the other folds (4-fold
cross-fitting: every image is tested, none by a probe that saw it). If the classes look the same
mirrored, a mirrored image is as easy as the original, whatever the probe learned; if mirroring
changes the class, the probe gets many more right as they are than mirrored. McNemar's test on
the pairs decides: mirroring is kept only when the drop is not significant (z below
`Z_THRESHOLD`). A folder whose images all share a direction without it deciding the class (a
light always from the left, text) is left unmirrored too: mirrored, its images would look like
none the model will be shown.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vit_studio.engine.training.baseline import even_subset, fit_logistic_regression
from vit_studio.engine.training.evaluation import mcnemar_z

FILTERS, FILTER_SIZE, SIDE = 96, 5, 32
FOLDS = 4
MAX_IMAGES = 2000  # enough for the test to see a drop of a few points; quick on any folder
# McNemar z (more right as they are than mirrored, over the spread): 3 is one-sided p ~ 0.001,
# so mirroring is turned off only on clear evidence: folders of photos and objects stay near 0.
Z_THRESHOLD = 3.0
L2 = 1e-2
_CHUNK = 256


@dataclass(frozen=True)
class MirrorTest:
    """How the probe scored the images as they are and mirrored (see the module)."""

    images: int
    plain_acc: float
    mirrored_acc: float
    only_plain: int  # right as they are, wrong mirrored
    only_mirrored: int  # wrong as they are, right mirrored

    @property
    def z(self) -> float:
        """McNemar's statistic: the surplus of images right only as they are, in spreads."""
        return mcnemar_z(self.only_plain, self.only_mirrored)

    @property
    def mirroring_keeps_class(self) -> bool:
        return self.z < Z_THRESHOLD

    def describe(self) -> str:
        """The measurement, for the settings explanation."""
        return (
            f"a quick probe scored {self.plain_acc:.0%} of the {self.images} training images as "
            f"they are and {self.mirrored_acc:.0%} mirrored (McNemar z = {self.z:.1f}; from "
            f"{Z_THRESHOLD:g} on, mirrored images no longer look like the folder's own)"
        )


def _filters() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    filters = torch.randn(FILTERS, 1, FILTER_SIZE, FILTER_SIZE, generator=generator)
    filters -= filters.mean((2, 3), keepdim=True)  # respond to shape, not brightness
    return filters / filters.flatten(1).norm(dim=1).view(-1, 1, 1, 1)


def mirror_features(images: torch.Tensor, *, mirrored: bool = False) -> torch.Tensor:
    """uint8 images [N, 3, H, W] (or mirrored) -> [N, 6 * FILTERS]: random-filter responses
    pooled over the image and its halves, a chunk at a time (the images may be a memory-mapped
    cache)."""
    filters = _filters()
    chunks = []
    for chunk in images.split(_CHUNK):
        if mirrored:
            chunk = chunk.flip(-1)
        gray = chunk.float().mean(1, keepdim=True) / 255.0
        gray = F.interpolate(gray, size=(SIDE, SIDE), mode="bilinear", antialias=True)
        gray = (gray - gray.mean((2, 3), keepdim=True)) / (gray.std((2, 3), keepdim=True) + 1e-3)
        response = F.conv2d(gray, filters, padding=FILTER_SIZE // 2)
        both = torch.cat([F.relu(response), F.relu(-response)], 1)
        halves = F.adaptive_avg_pool2d(both, (1, 2)).flatten(1)  # left, then right
        chunks.append(torch.cat([both.mean((2, 3)), halves], 1))
    return torch.cat(chunks)


def mirror_test(images: torch.Tensor, labels: torch.Tensor, num_classes: int) -> MirrorTest:
    """Score the images (uint8 [N, 3, H, W], CPU; at most `MAX_IMAGES`, taken evenly from the
    classes) as they are and mirrored, each by a probe fitted to the other folds (see the
    module)."""
    keep = even_subset(labels, MAX_IMAGES, num_classes)
    labels = labels[keep]
    # Gathered a chunk at a time: `images` may be a memory-mapped cache larger than memory.
    plain, mirrored = (
        torch.cat([mirror_features(images[chunk], mirrored=m) for chunk in keep.split(_CHUNK)])
        for m in (False, True)
    )
    count = len(labels)
    order = torch.randperm(count, generator=torch.Generator().manual_seed(0))
    right = torch.zeros(count, dtype=torch.bool)
    right_mirrored = torch.zeros(count, dtype=torch.bool)
    for fold in range(min(FOLDS, count)):
        held = order[fold::FOLDS]
        fitted = torch.ones(count, dtype=torch.bool)
        fitted[held] = False
        mean, std = plain[fitted].mean(0), plain[fitted].std(0).clamp_min(1e-3)
        with torch.enable_grad():
            weight, bias = fit_logistic_regression(
                (plain[fitted] - mean) / std, labels[fitted], num_classes, L2
            )
        for features, into in ((plain, right), (mirrored, right_mirrored)):
            scores = ((features[held] - mean) / std) @ weight.T + bias
            into[held] = scores.argmax(1) == labels[held]
    return MirrorTest(
        images=count,
        plain_acc=float(right.float().mean()),
        mirrored_acc=float(right_mirrored.float().mean()),
        only_plain=int((right & ~right_mirrored).sum()),
        only_mirrored=int((~right & right_mirrored).sum()),
    )
