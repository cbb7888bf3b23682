"""Exporting an `Analysis`: the NPZ arrays scripts read, and its predictions as a JSON record.

`vit-studio analyze --npz` and the explorer's NPZ export write the same layout through
`write_npz`; the CLI's JSON and the explorer's JSON share `analysis_record`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from vit_studio.engine.analysis import Analysis
from vit_studio.engine.fileio import atomic_path
from vit_studio.engine.model import NO_CLASSIFIER


def analysis_arrays(analysis: Analysis) -> dict[str, np.ndarray]:
    """The NPZ export: plain rollout (mean fusion, no discard, from layer 0), all float32.

    Keys: input [3, H, W], logits [C], probs [C], attentions [L, H, N, N], rollout [g, g],
    pos_similarity [g, g, g, g], mean_attention_distance [L, H], token_norms [L, N],
    logit_lens [L, C].
    """
    arrays = {
        "input": analysis.input,
        "logits": analysis.logits,
        "probs": analysis.probs,
        "attentions": analysis.attentions,
        "rollout": analysis.rollout("mean", 0.0, 0),
        "pos_similarity": analysis.pos_similarity,
        "mean_attention_distance": analysis.mean_attention_distance,
        "token_norms": analysis.token_norms,
        "logit_lens": analysis.logit_lens,
    }
    return {name: np.asarray(array, dtype=np.float32) for name, array in arrays.items()}


def class_maps(analysis: Analysis) -> dict[str, np.ndarray]:
    """The predicted class's Grad-CAM (`gradcam`, max 1) and AttnLRP (`attnlrp`, signed:
    largest magnitude 1, negative against the class) maps `[g, g]` where the analysis holds
    them, with `explained_class`, that class's index; nothing for a backbone."""
    if not analysis.has_classifier:
        return {}
    top = analysis.top_k(1)[0].index
    arrays: dict[str, np.ndarray] = {}
    if top in analysis.gradcam:
        arrays["gradcam"] = analysis.gradcam[top]
    if top in analysis.attnlrp:
        arrays["attnlrp"] = analysis.attnlrp[top]
    if arrays:
        arrays["explained_class"] = np.asarray(top)
    return arrays


def write_npz(
    path: str | os.PathLike,
    analysis: Analysis,
    extra: Mapping[str, np.ndarray] | None = None,
) -> None:
    """Write `analysis_arrays(analysis)`, plus the `extra` arrays (as float32), atomically.

    An `extra` name must not be one of the standard arrays.
    """
    arrays = analysis_arrays(analysis)
    for name, array in (extra or {}).items():
        if name in arrays:
            raise ValueError(f"'{name}' is one of the standard NPZ arrays; choose another name")
        arrays[name] = np.asarray(array, dtype=np.float32)
    with atomic_path(path, "the NPZ file") as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def analysis_record(
    analysis: Analysis, top_k: int, timings_ms: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """{"top_k": the `top_k` best predictions, "timing_ms": `timings_ms` then the analysis's}.

    A backbone has no predictions: its "top_k" is empty and "no_classes" says why.

    `timings_ms` are the caller's own steps (loading, decoding the image), listed first; every
    time is rounded to 0.01 ms and every probability to 6 decimals.
    """
    timings = dict(timings_ms or {}) | dict(analysis.timings_ms)
    predictions = analysis.top_k(top_k) if analysis.has_classifier else []
    record: dict[str, Any] = {
        "top_k": [
            {"label": p.label, "index": p.index, "probability": round(p.probability, 6)}
            for p in predictions
        ],
    }
    if not analysis.has_classifier:
        record["no_classes"] = NO_CLASSIFIER
    record["timing_ms"] = {name: round(ms, 2) for name, ms in timings.items()}
    return record
