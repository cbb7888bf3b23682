"""numpy arrays -> Qt images: colour maps, heat-map overlays, patch grids.

Painting goes through QImage built from numpy buffers (no matplotlib) because thumbnails and
overlays are redrawn on every control change and must cost well under a frame.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PySide6.QtGui import QImage, QPixmap

from vit_studio.gui.state.overlay import DEFAULT_COLORMAP


@cache
def colormap_lut(name: str = DEFAULT_COLORMAP) -> np.ndarray:
    """A 256 × 3 uint8 lookup table for a matplotlib colour map (read-only, made once)."""
    # Imported with the first map, not with the window.
    from matplotlib import colormaps

    table = colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3]
    lut = (table * 255.0 + 0.5).astype(np.uint8)
    lut.setflags(write=False)
    return lut


def normalise(values: np.ndarray, vmin: float | None = None, vmax: float | None = None):
    """Scale to [0, 1] between vmin and vmax (default: the array's own range)."""
    values = np.asarray(values, dtype=np.float32)
    low = float(values.min()) if vmin is None else vmin
    high = float(values.max()) if vmax is None else vmax
    if high <= low:
        return np.zeros_like(values)
    return np.clip((values - low) / (high - low), 0.0, 1.0)


def colorize(values: np.ndarray, lut: np.ndarray, vmin=None, vmax=None) -> np.ndarray:
    """A `[h, w]` map -> `[h, w, 3]` uint8 colours."""
    indices = (normalise(values, vmin, vmax) * 255.0 + 0.5).astype(np.uint8)
    return lut[indices]


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """A `[h, w, 3]` uint8 array as a QImage that owns a copy of the pixels."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width, _ = rgb.shape
    image = QImage(rgb.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.copy()  # detach from the numpy buffer, which may be freed


def rgb_to_pixmap(rgb: np.ndarray) -> QPixmap:
    return QPixmap.fromImage(rgb_to_qimage(rgb))


def upsample_nearest(grid_map: np.ndarray, height: int, width: int) -> np.ndarray:
    """Blow a `[g, g]` patch map up to pixel size, each patch a flat block."""
    rows = (np.arange(height) * grid_map.shape[0]) // height
    cols = (np.arange(width) * grid_map.shape[1]) // width
    return grid_map[rows[:, None], cols[None, :]]


def upsample_bilinear(grid_map: np.ndarray, height: int, width: int) -> np.ndarray:
    """Blow a `[g, g]` patch map up to pixel size, smoothly: each patch's value sits at its centre
    and pixels in between are interpolated (torch's `interpolate(..., "bilinear")` with
    `align_corners=False`; the outer half patch is flat).

    The values are interpolated before colouring, so every pixel gets a colour of the colour map.
    """
    grid_map = np.asarray(grid_map, dtype=np.float32)

    def axis(count: int, source: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        position = np.clip((np.arange(count) + 0.5) * source / count - 0.5, 0.0, source - 1)
        low = np.floor(position).astype(np.intp)
        high = np.minimum(low + 1, source - 1)
        return low, high, (position - low).astype(np.float32)

    top, bottom, fy = axis(height, grid_map.shape[0])
    left, right, fx = axis(width, grid_map.shape[1])
    upper = grid_map[top][:, left] * (1 - fx) + grid_map[top][:, right] * fx
    lower = grid_map[bottom][:, left] * (1 - fx) + grid_map[bottom][:, right] * fx
    return upper * (1 - fy[:, None]) + lower * fy[:, None]


def overlay(
    pixels: np.ndarray, grid_map: np.ndarray, lut: np.ndarray, opacity: float,
    vmin: float | None = None, vmax: float | None = None,
) -> np.ndarray:
    """Blend a colour-mapped patch map over an image, `[H, W, 3]` uint8."""
    height, width = pixels.shape[:2]
    colours = colorize(upsample_nearest(grid_map, height, width), lut, vmin, vmax)
    blended = (1.0 - opacity) * pixels.astype(np.float32) + opacity * colours.astype(np.float32)
    return blended.astype(np.uint8)


def _mosaic_index(count: int, source: int, tile: int, gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output pixel along one axis: the source row/column it samples, and whether it is
    inside a tile (False in the gaps between tiles)."""
    pitch = tile + gap
    which, inner = np.divmod(np.arange(count * pitch - gap), pitch)
    inside = inner < tile
    return which * source + np.minimum(inner, tile - 1) * source // tile, inside


def tile_mosaic(
    tiles: np.ndarray, tile_size: int, gap: int, background: tuple[int, int, int]
) -> np.ndarray:
    """Lay out `[R, C, h, w, 3]` uint8 tiles as one `[H, W, 3]` image, nearest-neighbour
    scaled to `tile_size` pixels square, separated by `gap` pixels of `background`.

    One fancy-indexing pass builds the whole picture, so even 37 × 37 tiles cost milliseconds
    where painting each tile separately would cost a draw call per tile.
    """
    rows, cols, height, width, _ = tiles.shape
    flat = tiles.transpose(0, 2, 1, 3, 4).reshape(rows * height, cols * width, 3)
    source_rows, inside_rows = _mosaic_index(rows, height, tile_size, gap)
    source_cols, inside_cols = _mosaic_index(cols, width, tile_size, gap)
    image = flat[source_rows[:, None], source_cols[None, :]]
    image[~inside_rows] = background
    image[:, ~inside_cols] = background
    return image


def colorbar_rgb(lut: np.ndarray, length: int, thickness: int) -> np.ndarray:
    """A vertical colour bar, high values at the top, `[length, thickness, 3]` uint8."""
    ramp = lut[np.linspace(255, 0, max(length, 1)).round().astype(np.intp)]
    return np.repeat(ramp[:, None, :], thickness, axis=1)
