"""Explicit downloads of pretrained ViTs into the standard torch hub and Hugging Face caches.

The front ends need only this: `available_models()` to list what can be downloaded (with sizes and
licences), `local_path(entry)` / `is_downloaded(entry)` to see what is already here (no
network), `download(entry, progress, cancel)` to fetch it, and `find_entry(name)` /
`parse_reference("hf:ORG/NAME")` to turn what a user typed into an entry.
"""

from vit_studio.engine.hub.caches import is_downloaded, local_path
from vit_studio.engine.hub.catalogue import (
    HUGGING_FACE,
    TORCHVISION,
    CatalogueEntry,
    available_models,
    find_entry,
    parse_reference,
)
from vit_studio.engine.hub.downloads import download, hub_endpoint, torchvision_base_url

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
