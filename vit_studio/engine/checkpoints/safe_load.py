"""Read pickled PyTorch checkpoints without ever running code stored in them.

Only `torch.load(..., weights_only=True)` is used: its unpickler builds tensors, containers and
primitive values and refuses every other global, so a malicious pickle fails before anything in
it runs. The state dict is then dug out of the usual training-checkpoint wrappers.
"""

from __future__ import annotations

import argparse
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from vit_studio.engine.errors import StudioError

# Where training scripts put the weights, most specific first ("state_dict" for timm's train.py
# and Lightning, "model" for torchvision's reference scripts).
_WRAPPER_KEYS = ("state_dict", "model", "model_state", "model_state_dict", "module", "net")
# Prefixes added by DataParallel/DistributedDataParallel and torch.compile.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# torchvision's and timm's training scripts store their argparse options beside the weights; a
# Namespace is a plain attribute bag, so allowing it lets those checkpoints open.
_SAFE_EXTRA_GLOBALS = [argparse.Namespace]


def load_pickled_state_dict(path: Path, *, lazy: bool = False) -> dict[str, torch.Tensor]:
    """The tensors of a `torch.save` file, unwrapped from checkpoint dicts and module prefixes.

    With `lazy`, zip-format files are memory-mapped so only the pickled index is read; callers
    that only need shapes never touch the weights.
    """
    try:
        with torch.serialization.safe_globals(_SAFE_EXTRA_GLOBALS):
            obj = _weights_only_load(path, lazy=lazy)
    except pickle.UnpicklingError as exc:
        raise StudioError(
            f"{path}: refused to load: it stores Python objects, not just weights "
            f"({_refused_global(exc)}), and ViT Studio never runs code from a checkpoint; "
            "re-save it with torch.save(model.state_dict(), path) or as .safetensors"
        ) from exc
    except Exception as exc:  # torch.load reports damaged files with many exception types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise StudioError(
            f"{path}: could not read this PyTorch checkpoint ({first}); "
            "the file may be truncated or not a checkpoint — download or save it again"
        ) from exc
    return unwrap_state_dict(obj, path)


def _weights_only_load(path: Path, *, lazy: bool) -> Any:
    # torch.load treats a path named *.safetensors as safetensors; the content decides here,
    # so such files are passed as an open file (which cannot be memory-mapped).
    if lazy and zipfile.is_zipfile(path) and not path.name.endswith(".safetensors"):
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    with path.open("rb") as handle:
        return torch.load(handle, map_location="cpu", weights_only=True)


def unwrap_state_dict(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """Find the state dict inside `{"model": ...}`-style wrappers and strip "module." prefixes."""
    while isinstance(obj, Mapping):
        inner = next((obj[key] for key in _WRAPPER_KEYS if isinstance(obj.get(key), Mapping)), None)
        if inner is None:
            break
        obj = inner
    tensors = (
        {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if isinstance(obj, Mapping)
        else {}
    )
    if not tensors:
        found = (
            f"a dict with keys {', '.join(map(repr, list(obj)[:5]))}"
            if isinstance(obj, Mapping)
            else f"a {type(obj).__name__}"
        )
        raise StudioError(
            f"{path}: no model weights found in this PyTorch file ({found}); "
            "save the model's state_dict() instead"
        )
    for prefix in _WRAPPER_PREFIXES:
        if all(name.startswith(prefix) for name in tensors):
            tensors = {name[len(prefix) :]: t for name, t in tensors.items()}
    return tensors


def _refused_global(exc: Exception) -> str:
    """The offending global named in torch's multi-paragraph refusal, for a one-line message."""
    match = re.search(r"GLOBAL ([\w.]+)", str(exc))
    return f"needs {match.group(1)}" if match else "needs more than weights_only allows"
