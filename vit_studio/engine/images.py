"""Open any image file safely as RGB, and turn it into a model's input exactly as torchvision does.

Every image a user gives us goes through `open_image`: it applies EXIF orientation, flattens
transparency onto white, scales 16-bit and float data into 0..255, takes the first frame of an
animation, keeps Pillow's decompression-bomb guard, and turns every way a file can be bad into one
readable `ImageFileError`. `prepare_image` then follows the model's `Preprocessing` with
torchvision's arithmetic (resize the shorter side, centre-crop, normalise), so our inputs match
`torchvision.transforms` on the same picture.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vit_studio.engine.errors import StudioError
from vit_studio.engine.model import Preprocessing

if TYPE_CHECKING:
    import torch

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")
"""Lower-case suffixes (with the dot) of the files we treat as images, in display order."""

_RESAMPLING = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}

# First bytes of the formats we accept: a file that starts like an image but will not open is
# corrupt, anything else is simply not an image.
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00",
               b"MM\x00*")

# `warnings.catch_warnings` swaps process-wide state; serialise our use of it so decoding threads
# cannot restore each other's filters. Only the cheap header parse runs under the lock.
_BOMB_WARNING_LOCK = threading.Lock()


class ImageFileError(StudioError):
    """An image file we cannot use.

    `reason` is one of "corrupt", "truncated", "empty", "not an image", "decompression bomb" or
    "unreadable"; `detail` adds specifics (may be empty). Folder scans report both per file.
    """

    def __init__(self, path: Path, reason: str, detail: str, fix: str) -> None:
        self.path = path
        self.reason = reason
        self.detail = " ".join(detail.split())
        what = f"{reason} ({self.detail})" if self.detail else reason
        super().__init__(f"{path}: {what}; {fix}")

    @property
    def summary(self) -> str:
        """`reason`, plus the detail in brackets when there is one."""
        return f"{self.reason} ({self.detail})" if self.detail else self.reason


@dataclass(frozen=True)
class PreparedImage:
    """One image as the model sees it.

    `pixels` (uint8 [H, W, 3], read-only) is the resized and centre-cropped picture, for drawing
    overlays that line up with the patch grid; `tensor` (float32 [3, H, W]) is the same picture
    normalised with the model's mean and std, ready to batch.
    """

    pixels: np.ndarray
    tensor: torch.Tensor


def is_image_path(path: str | os.PathLike) -> bool:
    """Whether the file name has one of `IMAGE_EXTENSIONS` (case-insensitive)."""
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def image_files_in(folder: Path) -> list[Path]:
    """The image files directly inside `folder` (not below it), sorted; hidden files skipped."""
    with os.scandir(folder) as entries:
        found = [
            Path(entry.path)
            for entry in entries
            if not entry.name.startswith(".") and entry.is_file() and is_image_path(entry.name)
        ]
    return sorted(found)


def open_image(path: str | os.PathLike, *, draft_side: int | None = None) -> Image.Image:
    """Decode an image file completely and return it upright, in RGB.

    Raises `ImageFileError` (a `StudioError`) naming the file for anything that makes it unusable:
    missing, a folder, empty, not an image, corrupt, truncated, or over Pillow's pixel limit
    (`Image.MAX_IMAGE_PIXELS`; its warning zone counts as over). `draft_side`: a JPEG may be
    decoded at a reduced scale whose longer side is still at least this many pixels (a picture
    to show, not to analyse: several times faster for a large photo).
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageFileError(path, "unreadable", "file not found",
                             "check the path or choose the file again") from None
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    if stat.S_ISDIR(info.st_mode):
        raise ImageFileError(path, "unreadable", "it is a folder", "choose an image file inside it")
    if info.st_size == 0:
        raise ImageFileError(path, "empty", "", "it has 0 bytes; re-export or re-download it")

    try:
        with _BOMB_WARNING_LOCK, warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            if draft_side is not None:
                # Pillow picks the smallest scale that keeps both sides at least this size.
                scale = min(1.0, draft_side / max(image.size))
                image.draft(image.mode, (math.ceil(image.width * scale),
                                         math.ceil(image.height * scale)))  # fmt: skip
            # Decoding is lazy; load() now so truncated or corrupt data fails here, not later.
            image.load()
            # Broken orientation metadata must not reject good pixels: keep them as stored.
            with contextlib.suppress(Exception):
                ImageOps.exif_transpose(image, in_place=True)
            return to_rgb(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageFileError(
            path, "decompression bomb", f"over the {Image.MAX_IMAGE_PIXELS:,}-pixel safety limit",
            "downscale it before opening it here",
        ) from None
    except UnidentifiedImageError:
        if _has_image_signature(path):
            raise ImageFileError(path, "corrupt", "the header is damaged",
                                 "re-export or re-download it") from None
        raise ImageFileError(
            path, "not an image", "",
            f"save it as one of {', '.join(IMAGE_EXTENSIONS)} or move it out of the way",
        ) from None
    except OSError as exc:
        if exc.errno is not None:
            raise _unreadable(path, exc) from exc
        if "truncat" in str(exc).lower():
            raise ImageFileError(path, "truncated", "",
                                 "the file ends early; re-download or re-export it") from None
        raise _corrupt(path, exc) from None
    except Exception as exc:
        # Pillow's format plugins raise many exception types on malformed data (SyntaxError,
        # ValueError, struct.error, EOFError, ...); all of them mean the same thing to a user.
        raise _corrupt(path, exc) from None


def to_rgb(image: Image.Image) -> Image.Image:
    """A new RGB image: transparency composited on white, 16-bit and float data scaled to 0..255.

    16-bit images use their full 0..65535 range. 32-bit integer and float images carry no bit
    depth, so they are scaled by the smallest of 0..1 (float only), 0..255 and 0..65535 that holds
    their values, or stretched from their minimum to maximum when none does.
    """
    if image.mode.startswith("I;16"):
        return _gray_to_rgb(_scale_to_uint8(np.asarray(image, dtype=np.float64), (0.0, 65535.0)))
    if image.mode in ("I", "F"):
        data = np.asarray(image, dtype=np.float64)
        ranges = ((0.0, 1.0),) if image.mode == "F" else ()
        return _gray_to_rgb(_scale_to_uint8(data, _value_range(data, (*ranges, (0.0, 255.0),
                                                                          (0.0, 65535.0)))))
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def resize_center_crop(
    image: Image.Image, resize_size: int, crop_size: int, interpolation: str = "bilinear"
) -> Image.Image:
    """Resize the shorter side to `resize_size`, then cut the central `crop_size` square.

    Uses torchvision's size and offset arithmetic (and Pillow's antialiased resampling, which is
    what torchvision runs on PIL images); a crop larger than the image is padded with black.
    """
    new_size = resized_size(image.width, image.height, resize_size)
    if new_size != image.size:
        image = image.resize(new_size, resample=_RESAMPLING[interpolation])
    left = crop_offset(image.width, crop_size)
    top = crop_offset(image.height, crop_size)
    return image.crop((left, top, left + crop_size, top + crop_size))


def resized_size(width: int, height: int, resize_size: int) -> tuple[int, int]:
    """(width, height) after resizing the shorter side to `resize_size`, as torchvision rounds."""
    short, long = min(width, height), max(width, height)
    new_short, new_long = resize_size, int(resize_size * long / short)
    return (new_short, new_long) if width <= height else (new_long, new_short)


def prepare_image(image: Image.Image, pre: Preprocessing) -> PreparedImage:
    """Resize, centre-crop and normalise `image` as the model's metadata prescribes."""
    import torch  # here, not above: the window decodes photos before torch has loaded

    if image.mode != "RGB":
        image = to_rgb(image)
    cropped = resize_center_crop(image, pre.resize_size, pre.crop_size, pre.interpolation)
    pixels = np.array(cropped, dtype=np.uint8)
    mean = torch.tensor(pre.mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(pre.std, dtype=torch.float32).view(3, 1, 1)
    tensor = torch.from_numpy(pixels).permute(2, 0, 1).to(torch.float32).div(255)
    tensor = tensor.sub(mean).div(std).contiguous()
    pixels.setflags(write=False)
    return PreparedImage(pixels=pixels, tensor=tensor)


def crop_offset(length: int, crop: int) -> int:
    """Where a centre crop of `crop` starts along a side of `length` (negative: padded)."""
    # torchvision pads a too-small image by (crop - length) // 2 before cropping at 0.
    if crop > length:
        return -((crop - length) // 2)
    return int(round((length - crop) / 2.0))


def _value_range(
    data: np.ndarray, candidates: tuple[tuple[float, float], ...]
) -> tuple[float, float]:
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return (0.0, 1.0)
    low, high = float(finite.min()), float(finite.max())
    for candidate in candidates:
        if candidate[0] <= low and high <= candidate[1]:
            return candidate
    return (low, high)


def _scale_to_uint8(data: np.ndarray, value_range: tuple[float, float]) -> np.ndarray:
    low, high = value_range
    data = np.nan_to_num(data, nan=low, posinf=high, neginf=low)
    scaled = (data - low) * (255.0 / (high - low)) if high > low else np.zeros_like(data)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _gray_to_rgb(gray: np.ndarray) -> Image.Image:
    return Image.fromarray(np.repeat(gray[:, :, None], 3, axis=2))


def _has_image_signature(path: Path) -> bool:
    try:
        with open(path, "rb") as file:
            head = file.read(16)
    except OSError:
        return False
    return head.startswith(_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _unreadable(path: Path, exc: OSError) -> ImageFileError:
    return ImageFileError(path, "unreadable", exc.strerror or str(exc),
                          "check that the file exists and that you may read it")


def _corrupt(path: Path, exc: Exception) -> ImageFileError:
    detail = str(exc) or type(exc).__name__
    return ImageFileError(path, "corrupt", detail, "re-export or re-download it")
