"""Tensors out of a checkpoint file, chosen by its content: safetensors, torch zip, or pickle.

In lazy mode the result holds shape-only `meta` tensors, read from the safetensors header or a
memory-mapped torch file, so inspecting a multi-gigabyte checkpoint costs milliseconds.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from vit_studio.engine.checkpoints.safe_load import load_pickled_state_dict
from vit_studio.engine.errors import StudioError
from vit_studio.engine.locations import MODEL_SUFFIXES as MODEL_SUFFIXES  # where it was
from vit_studio.engine.locations import is_model_path as is_model_path

SAFETENSORS = "safetensors"
TORCH_ZIP = "torch zip"
TORCH_PICKLE = "torch pickle"
JSON = "json"
# Weight files a Hugging Face or timm hub folder may hold, preferred first.
FOLDER_WEIGHTS = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_PICKLE_PROTOCOL_2_PLUS = 0x80
_MAX_SAFETENSORS_HEADER = 100_000_000


def sniff(path: Path) -> str | None:
    """Which kind of weights file `path` is, from its first bytes (never its name), or None."""
    try:
        with path.open("rb") as handle:
            head = handle.read(9)
    except OSError as exc:
        raise StudioError(f"{path}: cannot open ({exc.strerror or exc}); check the path") from exc
    if head[:4] == b"PK\x03\x04":
        return TORCH_ZIP
    if len(head) == 9 and head[8:9] == b"{":
        (header_len,) = struct.unpack("<Q", head[:8])
        if header_len <= min(path.stat().st_size - 8, _MAX_SAFETENSORS_HEADER):
            return SAFETENSORS
    if head[:1] == bytes([_PICKLE_PROTOCOL_2_PLUS]):
        return TORCH_PICKLE
    if head.lstrip()[:1] == b"{":
        return JSON
    return None


def read_tensors(path: Path, *, lazy: bool) -> dict[str, torch.Tensor]:
    """All tensors of a weights file (or of every shard a JSON index names), keyed by name."""
    kind = sniff(path)
    if kind == SAFETENSORS:
        return _read_safetensors(path, lazy=lazy)
    if kind in (TORCH_ZIP, TORCH_PICKLE):
        state = load_pickled_state_dict(path, lazy=lazy)
        return {name: t.to("meta") for name, t in state.items()} if lazy else state
    if kind == JSON and "weight_map" in read_json(path):
        return _read_shards(path, lazy=lazy)
    raise StudioError(f"{path}: not a safetensors or PyTorch weights file")


def folder_weights(folder: Path) -> Path:
    """The weights file of a hub-style model folder."""
    for name in FOLDER_WEIGHTS:
        if (folder / name).is_file():
            return folder / name
    raise StudioError(
        f"{folder}: the folder has a config.json but no weights "
        f"({' or '.join(FOLDER_WEIGHTS[::2])}); download the weights into the same folder"
    )


def read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StudioError(f"{path}: not a readable JSON file ({exc}); restore the file") from exc
    if not isinstance(document, dict):
        raise StudioError(f"{path}: expected a JSON object; restore the file")
    return document


def _read_safetensors(path: Path, *, lazy: bool) -> dict[str, torch.Tensor]:
    try:
        if not lazy:
            return load_file(str(path))
        with safe_open(str(path), framework="pt") as handle:
            return {name: _meta_tensor(handle.get_slice(name)) for name in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise StudioError(
            f"{path}: damaged safetensors file ({exc}); download or save it again"
        ) from exc


def _meta_tensor(tensor_slice: Any) -> torch.Tensor:
    # The header's dtype does not matter for shapes, and exotic dtypes (fp8) need not map.
    return torch.empty(tensor_slice.get_shape(), device="meta")


def _read_shards(index: Path, *, lazy: bool) -> dict[str, torch.Tensor]:
    weight_map = read_json(index).get("weight_map")
    if not isinstance(weight_map, dict):
        raise StudioError(f"{index}: shard index without a weight_map; download it again")
    state: dict[str, torch.Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        shard_path = index.parent / str(shard)
        if not shard_path.is_file():
            raise StudioError(f"{index}: shard '{shard}' is missing; download it into the folder")
        state.update(read_tensors(shard_path, lazy=lazy))
    return state
