"""Cached images on the training device, cut into batches by index, and their label check.

The images come memory-mapped from the folder's cache file (`data.cache`); on the CPU each batch
is gathered from the mapping, so only a batch at a time is ever process memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import StudioModel

if TYPE_CHECKING:
    from vit_studio.engine.data import CachedImages

# At most this share of the free GPU memory holds the cached images; beyond it they stay in the
# memory-mapped file and each batch is gathered into pinned memory and copied over.
_DEVICE_DATA_SHARE = 0.5


class BatchSource:
    """Cached images where batches are cut from: on the device when they fit, else mapped."""

    def __init__(self, data: CachedImages, device: torch.device) -> None:
        self.device = device
        on_device = True
        if device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(device)
            on_device = data.images.nbytes < _DEVICE_DATA_SHARE * free
        self.index_device = device if on_device else torch.device("cpu")
        if on_device:
            self.images = data.images.to(device)
            self.labels = data.labels.to(device)
        else:
            self.images = data.images
            self.labels = data.labels

    def __len__(self) -> int:
        return self.images.shape[0]

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images and labels at `index` (a tensor on `index_device`), on the device."""
        if self.index_device == self.device:
            return self.images[index], self.labels[index]
        # Gathered straight into pinned memory so the copy runs asynchronously; the caching host
        # allocator keeps the buffer alive until the copy has finished.
        images = torch.empty(
            (len(index), *self.images.shape[1:]), dtype=torch.uint8, pin_memory=True
        )
        torch.index_select(self.images, 0, index, out=images)
        labels = self.labels[index].pin_memory()
        return images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)


def check_labels(model: StudioModel, data: CachedImages, what: str) -> None:
    """Refuse empty `data` or labels outside the model's classes (`what` names them in errors)."""
    if len(data.labels) == 0:
        raise StudioError(f"no {what}; add images to the class folders")
    highest = int(data.labels.max())
    if highest >= model.arch.num_classes or int(data.labels.min()) < 0:
        raise StudioError(
            f"{what} have label {highest} but the model has {model.arch.num_classes} classes; "
            "rescan the folder for this model"
        )
