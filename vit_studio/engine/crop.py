"""Where the model's input lies in the user's picture: the centre crop and each of its patches,
in the picture's own pixels.

The views paint maps over the original photo, so they need to know which of its pixels every
patch of the model input came from. The preprocessing (`images.resize_center_crop`) resizes the
shorter side and cuts the central square; Pillow's resampling maps the edge of output pixel `i`
to input position `i * scale`, so the mapping is exact and affine per axis, and the same
arithmetic (`images.resized_size`, `images.crop_offset`) places the crop here as it cut it.
Plain numbers only, so the hit-testing the GUI does can be tested without a window.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vit_studio.engine.images import crop_offset, open_image, resized_size
from vit_studio.engine.model import Preprocessing

MAX_SIDE = 2048
"""Longest side, in pixels, of the copy of a photo kept for drawing (4K screens show that much)."""
PREVIEW_SIDE = 1024
"""Longest side of the photo shown before its analysis (which brings the `MAX_SIDE` copy): small
enough for a large JPEG to be decoded at half scale or less, in a fraction of the time."""

Box = tuple[float, float, float, float]  # left, top, right, bottom, in the picture's pixels


@dataclass(frozen=True)
class CropGeometry:
    """A `width × height` picture and the square the model saw of it, cut in `grid_size²` patches.

    Coordinates are continuous: pixel (x, y) covers `[x, x + 1) × [y, y + 1)`. `crop` reaches
    past the picture where the preprocessing pads a picture too small for the crop.
    """

    width: int
    height: int
    crop: Box
    grid_size: int

    @classmethod
    def whole(cls, size: int, grid_size: int) -> CropGeometry:
        """The model input itself: a `size`-pixel square that is all crop."""
        return cls(size, size, (0.0, 0.0, float(size), float(size)), grid_size)

    @property
    def bounds(self) -> Box:
        """The smallest box holding both the picture and the crop."""
        left, top, right, bottom = self.crop
        return (min(0.0, left), min(0.0, top), max(float(self.width), right),
                max(float(self.height), bottom))  # fmt: skip

    def patch_box(self, row: int, column: int) -> Box:
        """The pixels patch (row, column) (0-based) of the model input came from."""
        left, top, right, bottom = self.crop
        cell_x = (right - left) / self.grid_size
        cell_y = (bottom - top) / self.grid_size
        return (left + column * cell_x, top + row * cell_y,
                left + (column + 1) * cell_x, top + (row + 1) * cell_y)  # fmt: skip

    def patch_at(self, x: float, y: float) -> int | None:
        """The row-major index of the patch over point (x, y), or None outside the crop."""
        left, top, right, bottom = self.crop
        if not (left <= x < right and top <= y < bottom):
            return None
        g = self.grid_size
        column = min(int((x - left) / (right - left) * g), g - 1)
        row = min(int((y - top) / (bottom - top) * g), g - 1)
        return row * g + column

    def scaled_to(self, width: int, height: int) -> CropGeometry:
        """The same geometry for the picture resized to `width × height`."""
        sx, sy = width / self.width, height / self.height
        left, top, right, bottom = self.crop
        return CropGeometry(width, height, (left * sx, top * sy, right * sx, bottom * sy),
                            self.grid_size)  # fmt: skip


def crop_geometry(width: int, height: int, pre: Preprocessing, grid_size: int) -> CropGeometry:
    """Where `pre` (resize the shorter side, centre-crop) cuts its input from a `width × height`
    picture, in that picture's pixels."""
    new_width, new_height = resized_size(width, height, pre.resize_size)
    sx, sy = width / new_width, height / new_height
    left = crop_offset(new_width, pre.crop_size)
    top = crop_offset(new_height, pre.crop_size)
    right, bottom = left + pre.crop_size, top + pre.crop_size
    return CropGeometry(width, height, (left * sx, top * sy, right * sx, bottom * sy), grid_size)


@dataclass(frozen=True, eq=False)
class OriginalImage:
    """The user's picture, for drawing maps over it.

    `pixels` (uint8 [h, w, 3], read-only) is the upright RGB picture, shrunk so its longer side
    is at most `MAX_SIDE`; `geometry` is in the pixels of that copy; `source_size` is the
    (width, height) of the file's picture.
    """

    pixels: np.ndarray
    geometry: CropGeometry
    source_size: tuple[int, int]


def original_image(
    image: Image.Image, pre: Preprocessing, grid_size: int, max_side: int = MAX_SIDE
) -> OriginalImage:
    """`image` (RGB, as `images.open_image` returns it) with the crop `pre` takes of it."""
    width, height = image.size
    geometry = crop_geometry(width, height, pre, grid_size)
    scale = max_side / max(width, height)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        # Averaging whole blocks first costs a fraction of a filtered resize of the full photo;
        # the view filters again to the screen, so this copy needs no finer filter.
        factor = max(width, height) // max_side
        if factor >= 2:
            image = image.reduce(factor)
        image = image.resize(size, Image.Resampling.BILINEAR)
        geometry = geometry.scaled_to(*size)
    pixels = np.array(image.convert("RGB"), dtype=np.uint8)
    pixels.setflags(write=False)
    return OriginalImage(pixels=pixels, geometry=geometry, source_size=(width, height))


def photo_preview(path: str | os.PathLike, max_side: int = PREVIEW_SIDE) -> np.ndarray:
    """The photo at `path` to show before any model has seen it: upright RGB (`[h, w, 3]`
    uint8), its longer side at most `max_side`. Large JPEGs are decoded at a reduced scale.

    Raises what `images.open_image` raises for a file that cannot be shown.
    """
    image = open_image(path, draft_side=max_side)
    image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)
