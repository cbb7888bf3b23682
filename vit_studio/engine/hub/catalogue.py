"""The pretrained ViTs ViT Studio offers to download, and the hub references `--model` takes.

An entry names what to fetch (a torchvision checkpoint file, or files of a Hugging Face hub
repo), its licence and its size. Sizes are approximate, for showing before anything is asked of
a server: torchvision's recorded file size, or four bytes a parameter for the float32
safetensors files; the download learns the exact size from the server and checks it.

A reference is how a user names a hub model without the catalogue: `hf:ORG/NAME[@REVISION]`,
`timm:NAME` (the repo `timm/NAME`) or `torchvision:NAME` (a torchvision entry of the catalogue).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vit_studio.engine.errors import StudioError

TORCHVISION = "torchvision"
HUGGING_FACE = "huggingface"
HF_PREFIX, TIMM_PREFIX, TORCHVISION_PREFIX = "hf:", "timm:", "torchvision:"
# The files ViT Studio needs of a hub repo: the config says which converter, the weights load.
HUB_FILES = ("config.json", "model.safetensors")
UNKNOWN_SIZE = 0
_MIB = 1 << 20
# `^(ORG/)?NAME$` as the hub allows them; anything else would put odd parts into a URL or path.
_REPO_ID = re.compile(r"^(?:[\w.-]+/)?[\w.-]+$")
_REVISION = re.compile(r"^[\w.-]+$")


@dataclass(frozen=True)
class CatalogueEntry:
    """One downloadable model: where its files come from, what it is, its licence and size."""

    name: str  # what the user types: `vit-studio models --download NAME`
    title: str  # what it is, for people
    source: str  # TORCHVISION or HUGGING_FACE
    files: tuple[str, ...]  # torchvision: the one checkpoint file; hub: files of the repo
    size_bytes: int  # approximate, UNKNOWN_SIZE for references outside the catalogue
    licence: str
    repo_id: str = ""  # the Hugging Face hub repo (HUGGING_FACE only)
    revision: str = "main"  # a branch, tag or commit of the hub repo

    @property
    def reference(self) -> str:
        """The `--model` value that opens this entry (downloading it if needed)."""
        if self.source == TORCHVISION:
            return f"{TORCHVISION_PREFIX}{self.name}"
        revision = "" if self.revision == "main" else f"@{self.revision}"
        return f"{HF_PREFIX}{self.repo_id}{revision}"


def _torchvision(name: str, title: str, file: str, file_size_mib: float) -> CatalogueEntry:
    # torchvision's weights record `_file_size` in MiB to three decimals: within a kilobyte.
    size = round(file_size_mib * _MIB)
    return CatalogueEntry(name, title, TORCHVISION, (file,), size, "BSD-3-Clause")


def _hub(name: str, title: str, repo_id: str, params: int, licence: str) -> CatalogueEntry:
    return CatalogueEntry(
        name, title, HUGGING_FACE, HUB_FILES, params * 4, licence, repo_id=repo_id
    )


# torchvision file names and sizes as `torchvision.models.ViT_*_Weights.IMAGENET1K_V1` gives
# them (`.url`, `.meta["_file_size"]`); parameter counts of the hub models from timm.
CATALOGUE: tuple[CatalogueEntry, ...] = (
    _torchvision("vit_b_16", "ViT-B/16, ImageNet-1k (torchvision)",
                 "vit_b_16-c867db91.pth", 330.285),
    _torchvision("vit_b_32", "ViT-B/32, ImageNet-1k (torchvision)",
                 "vit_b_32-d86f8d99.pth", 336.604),
    _torchvision("vit_l_16", "ViT-L/16, ImageNet-1k (torchvision)",
                 "vit_l_16-852ce7e3.pth", 1161.023),
    _hub("vit_tiny_patch16_224", "ViT-Ti/16 AugReg, IN-21k then IN-1k (timm)",
         "timm/vit_tiny_patch16_224.augreg_in21k_ft_in1k", 5_717_416, "Apache-2.0"),
    _hub("vit_small_patch16_224", "ViT-S/16 AugReg, IN-21k then IN-1k (timm)",
         "timm/vit_small_patch16_224.augreg_in21k_ft_in1k", 22_050_664, "Apache-2.0"),
    _hub("vit_base_patch16_224", "ViT-B/16 AugReg2, IN-21k then IN-1k (timm)",
         "timm/vit_base_patch16_224.augreg2_in21k_ft_in1k", 86_567_656, "Apache-2.0"),
    _hub("deit3_small_patch16_224", "DeiT-III ViT-S/16, ImageNet-1k (timm)",
         "timm/deit3_small_patch16_224.fb_in1k", 22_059_496, "Apache-2.0"),
    _hub("vit_small_patch14_dinov2", "DINOv2 ViT-S/14 backbone, no classes (timm)",
         "timm/vit_small_patch14_dinov2.lvd142m", 22_056_192, "Apache-2.0"),
    _hub("google/vit-base-patch16-224", "ViT-B/16, IN-21k then IN-1k (Hugging Face)",
         "google/vit-base-patch16-224", 86_567_656, "Apache-2.0"),
)  # fmt: skip


def available_models() -> list[CatalogueEntry]:
    """Every model ViT Studio offers to download, in the order to show them."""
    return list(CATALOGUE)


def find_entry(name: str) -> CatalogueEntry:
    """The entry called `name`, or the one a reference (`hf:`, `timm:`, `torchvision:`) names.

    Catalogue entries are also found by their hub repo id, with or without `timm/`.
    """
    for entry in CATALOGUE:
        if name in (entry.name, entry.repo_id) or f"timm/{name}" == entry.repo_id:
            return entry
    reference = parse_reference(name)
    if reference is not None:
        return reference
    raise StudioError(
        f"{name}: not in the catalogue; choose one of {', '.join(e.name for e in CATALOGUE)} "
        "(vit-studio models --catalogue), or name a hub model as hf:ORG/NAME or timm:NAME"
    )


def parse_reference(text: str) -> CatalogueEntry | None:
    """The entry a `--model` value names as a hub model, or None for a path.

    An existing file or folder is always a path, whatever its name looks like.
    """
    if not text.startswith((HF_PREFIX, TIMM_PREFIX, TORCHVISION_PREFIX)) or Path(text).exists():
        return None
    prefix, _, rest = text.partition(":")
    if prefix == TORCHVISION_PREFIX[:-1]:
        return _torchvision_reference(text, rest)
    repo_id, _, revision = rest.partition("@")
    if prefix == TIMM_PREFIX[:-1]:
        repo_id = _timm_repo(repo_id)
    if not _REPO_ID.match(repo_id) or (revision and not _REVISION.match(revision)):
        raise StudioError(
            f"{text}: not a hub model name; write hf:ORG/NAME (optionally @REVISION) or "
            "timm:NAME, e.g. hf:google/vit-base-patch16-224"
        )
    for entry in CATALOGUE:
        if entry.repo_id == repo_id and not revision:
            return entry
    return CatalogueEntry(
        name=repo_id,
        title=f"{repo_id} (Hugging Face hub)",
        source=HUGGING_FACE,
        files=HUB_FILES,
        size_bytes=UNKNOWN_SIZE,
        licence="see its model card",
        repo_id=repo_id,
        revision=revision or "main",
    )


def _timm_repo(name: str) -> str:
    """`timm/NAME`; a catalogue model named without its pretrained tag gets the catalogue's."""
    if "/" in name:
        return name
    for entry in CATALOGUE:
        if entry.repo_id.startswith(f"timm/{name}.") and entry.name == name:
            return entry.repo_id
    return f"timm/{name}"


def _torchvision_reference(text: str, name: str) -> CatalogueEntry:
    for entry in CATALOGUE:
        if entry.source == TORCHVISION and entry.name == name:
            return entry
    known = ", ".join(e.name for e in CATALOGUE if e.source == TORCHVISION)
    raise StudioError(f"{text}: not a torchvision model of the catalogue; choose one of {known}")
