"""Open any ViT checkpoint ViT Studio understands, telling the format by content, never by name.

Our own `.safetensors` files load as they are; torchvision, timm and Hugging Face checkpoints are
converted into torchvision's layout on load. `inspect_checkpoint` answers "what is this?" from
headers and shapes alone, without reading the weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

from vit_studio.engine.checkpoints import huggingface_format, timm_format, torchvision_format
from vit_studio.engine.checkpoints.common import (
    SUPPORTED,
    Converted,
    as_float32,
    check_state,
    sample,
)
from vit_studio.engine.checkpoints.common import (
    HeadCountNeeded as HeadCountNeeded,  # raised by load_model: callers ask the user
)
from vit_studio.engine.checkpoints.reading import (
    JSON,
    folder_weights,
    read_json,
    read_tensors,
    sniff,
)
from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import (
    FORMAT_KEY,
    StudioModel,
    ViTArch,
    build_vit,
    load_studio_model,
    make_model,
    read_studio_metadata,
)

STUDIO_FORMAT = FORMAT_KEY
# Weight files whose name says nothing about the model; their folder's name does.
_GENERIC_NAMES = ("model.", "pytorch_model.")


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint is, found without loading its weights."""

    path: Path
    format: str
    name: str
    arch: ViTArch


def load_model(path: str | os.PathLike, *, num_heads: int | None = None) -> StudioModel:
    """Load any supported ViT checkpoint (file or hub folder) on the CPU, in eval mode.

    `num_heads` overrides the head count for checkpoints that do not record it (torchvision
    and timm state dicts, where it is otherwise inferred from the hidden size).
    """
    path = Path(path)
    if _studio_document(path) is not None:
        return load_studio_model(path)
    converted = _convert(path, lazy=False, num_heads=num_heads)
    # A shape-only module takes the converted tensors as its parameters: no random
    # initialisation to overwrite and no second copy of the weights.
    with torch.device("meta"):
        module = build_vit(converted.arch)
    module.load_state_dict(converted.state, strict=True, assign=True)
    return make_model(module, converted.arch, converted.meta, source=path)


def inspect_checkpoint(path: str | os.PathLike, *, num_heads: int | None = None) -> CheckpointInfo:
    """Format, name and architecture of a checkpoint, from its headers and tensor shapes only."""
    path = Path(path)
    document = _studio_document(path)
    if document is not None:
        try:
            arch = ViTArch(**document["arch"], norm_eps=float(document.get("norm_eps", 1e-6)))
        except (KeyError, TypeError, ValueError) as exc:
            raise StudioError(
                f"{path}: the ViT Studio metadata is incomplete ({exc}); re-save the model"
            ) from exc
        return CheckpointInfo(path, STUDIO_FORMAT, document.get("name") or path.stem, arch)
    converted = _convert(path, lazy=True, num_heads=num_heads)
    return CheckpointInfo(path, converted.format, converted.meta.name, converted.arch)


def _studio_document(path: Path) -> dict | None:
    return read_studio_metadata(path) if path.is_file() else None


def _convert(path: Path, *, lazy: bool, num_heads: int | None) -> Converted:
    """Any foreign checkpoint in torchvision's float32 layout, checked against its architecture."""
    converted = _convert_any(path, lazy=lazy, num_heads=num_heads)
    converted.state = as_float32(converted.state)
    check_state(converted.state, converted.arch, path, converted.format)
    return converted


def _convert_any(path: Path, *, lazy: bool, num_heads: int | None) -> Converted:
    if path.is_dir():
        config_path = path / "config.json"
        if not config_path.is_file():
            raise StudioError(
                f"{path}: a folder without config.json; choose the checkpoint file itself, "
                "or a Hugging Face / timm model folder"
            )
        return _convert_folder(config_path, read_json(config_path), path, lazy, num_heads)
    if not path.exists():
        raise StudioError(f"{path}: no such file or folder; check the path")
    kind = sniff(path)
    if kind is None:
        raise _not_a_checkpoint(path, "neither safetensors nor a PyTorch file")
    if kind == JSON:
        config = read_json(path)
        if huggingface_format.is_hf_config(config) or timm_format.is_timm_config(config):
            return _convert_folder(path, config, path, lazy, num_heads)
        if "weight_map" not in config:
            raise _not_a_checkpoint(path, "a JSON file that is not a model config")
    return _convert_tensors(read_tensors(path, lazy=lazy), path, num_heads=num_heads)


def _convert_folder(
    config_path: Path, config: dict, named_by: Path, lazy: bool, num_heads: int | None
) -> Converted:
    """A hub-style folder: its config.json decides between transformers and timm."""
    folder = config_path.parent
    name = _display_name(named_by)
    if huggingface_format.is_hf_config(config):
        # Refusing by model type first keeps scans of caches full of other models fast.
        huggingface_format.check_config(config, config_path)
        state = read_tensors(folder_weights(folder), lazy=lazy)
        return huggingface_format.convert(
            state, config, config_path, name=name, num_heads=num_heads
        )
    if timm_format.is_timm_config(config):
        weights = folder_weights(folder)
        state = read_tensors(weights, lazy=lazy)
        return timm_format.convert(state, weights, name=name, config=config, num_heads=num_heads)
    raise StudioError(
        f"{config_path}: neither a Hugging Face transformers nor a timm config.json; "
        f"supported: {SUPPORTED}"
    )


def _convert_tensors(
    state: dict[str, torch.Tensor], path: Path, *, num_heads: int | None
) -> Converted:
    """A weights file on its own: the tensor names tell whose layout it is."""
    names = state.keys()
    name = _display_name(path)
    config_path = path.parent / "config.json"
    config = read_json(config_path) if config_path.is_file() else {}
    if huggingface_format.matches(names):
        if not huggingface_format.is_hf_config(config):
            raise StudioError(
                f"{path}: Hugging Face ViT weights without their config.json; keep the "
                "config.json they came with in the same folder"
            )
        return huggingface_format.convert(
            state, config, config_path, name=name, num_heads=num_heads
        )
    if torchvision_format.matches(names):
        return torchvision_format.convert(state, path, name=name, num_heads=num_heads)
    if timm_format.matches(names):
        timm_config = config if timm_format.is_timm_config(config) else None
        return timm_format.convert(state, path, name=name, config=timm_config, num_heads=num_heads)
    raise _not_a_checkpoint(path, f"{len(state)} tensors such as {sample(names)}")


def _display_name(path: Path) -> str:
    """The file's stem, or for hub folders (and their generic files) the folder's model name."""
    folder = path if path.is_dir() else path.parent
    if not (path.is_dir() or path.name == "config.json" or path.name.startswith(_GENERIC_NAMES)):
        return path.stem
    # The Hugging Face cache names snapshot folders by revision: models--org--name/snapshots/rev
    repo = folder.parent.parent
    if folder.parent.name == "snapshots" and repo.name.startswith("models--"):
        return "/".join(repo.name.split("--")[1:])
    return folder.name


def _not_a_checkpoint(path: Path, found: str) -> StudioError:
    return StudioError(
        f"{path}: not a ViT checkpoint ViT Studio can read ({found}); supported: {SUPPORTED}"
    )
