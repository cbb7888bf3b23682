"""How sure a faithfulness figure is: 95 % bootstrap intervals of mean AUCs over images, and
paired comparisons of two methods on the same images.

The images are resampled with replacement (percentile bootstrap, Efron & Tibshirani 1993). A
comparison resamples the per-image differences of the two methods, so the variation the
images share (an easy image is easy for every map) cancels: a difference is real when its
interval leaves out 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 2000
LOWER_IS_BETTER = frozenset({"positive_auc", "deletion_auc"})


def resampled_images(images: int, rng: np.random.Generator, resamples: int = RESAMPLES):
    """`[resamples, images]` indices: each row one bootstrap sample of the images."""
    if images < 1:
        raise ValueError("a bootstrap needs at least one image")
    return rng.integers(0, images, size=(resamples, images))


def mean_interval(values: np.ndarray, samples: np.ndarray) -> tuple[float, float]:
    """The `CONFIDENCE` percentile interval of the mean of `values` `[n]` over `samples`."""
    means = values[samples].mean(axis=1)
    tail = (1.0 - CONFIDENCE) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class Comparison:
    """A method against a baseline on one AUC, over the same images: the mean of the per-image
    differences (method − baseline), its interval, and the verdict: "better" or "worse" when
    the interval leaves out 0 (in the AUC's direction), else "tie"."""

    auc: str
    difference: float
    interval: tuple[float, float]

    @property
    def verdict(self) -> str:
        low, high = self.interval
        if low <= 0.0 <= high:
            return "tie"
        larger = low > 0.0
        return "better" if larger != (self.auc in LOWER_IS_BETTER) else "worse"

    def as_json(self) -> dict[str, object]:
        return {
            "difference": self.difference,
            "ci": list(self.interval),
            "verdict": self.verdict,
        }


def compare(
    auc: str, method: np.ndarray, baseline: np.ndarray, samples: np.ndarray
) -> Comparison:
    """`method` against `baseline`: their values of `auc` on the same images, `[n]` each."""
    differences = method - baseline
    return Comparison(auc, float(differences.mean()), mean_interval(differences, samples))
