"""Folder datasets: scan and check a folder of class subfolders (`scan`), remember what the
checks found (`checked`), and decode the images once into a memory-mapped cache (`cache`) in the
user's cache directory (`location`)."""

from vit_studio.engine.data.cache import CachedImages, CacheUse, cache_images, cache_parts
from vit_studio.engine.data.scan import (
    FolderScan,
    ImageItem,
    SkippedFile,
    UntrainableFolder,
    scan_folder,
)

__all__ = [
    "CacheUse",
    "CachedImages",
    "FolderScan",
    "ImageItem",
    "SkippedFile",
    "UntrainableFolder",
    "cache_images",
    "cache_parts",
    "scan_folder",
]
