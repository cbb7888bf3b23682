"""Explicit downloads of pretrained ViTs into the standard torch hub and Hugging Face caches.

The front ends need only this: `available_models()` to list what can be downloaded (with sizes and
licences), `local_path(entry)` / `is_downloaded(entry)` to see what is already here (no
network), `download(entry, progress, cancel)` to fetch it, and `find_entry(name)` /
`parse_reference("hf:ORG/NAME")` to turn what a user typed into an entry.
"""

from typing import Any

from vit_studio.engine.hub.caches import is_downloaded, local_path
from vit_studio.engine.hub.catalogue import (
    HUGGING_FACE,
    TORCHVISION,
    CatalogueEntry,
    available_models,
    find_entry,
    parse_reference,
)

# The HTTP client (http.client, ssl, email) is imported when a download is asked for: the
# window and `vit-studio models --catalogue` list the catalogue without it.
_DOWNLOADS = ("download", "hub_endpoint", "torchvision_base_url")


def __getattr__(name: str) -> Any:
    if name in _DOWNLOADS:
        from vit_studio.engine.hub import downloads

        return getattr(downloads, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "HUGGING_FACE",
    "TORCHVISION",
    "CatalogueEntry",
    "available_models",
    "download",
    "find_entry",
    "hub_endpoint",
    "is_downloaded",
    "local_path",
    "parse_reference",
    "torchvision_base_url",
]
