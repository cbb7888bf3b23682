"""images: every file a user may drop opens as upright RGB or fails with one readable line."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms.v2.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms._presets import ImageClassification

from tests.conftest import write_image
from vit_studio.engine.crop import photo_preview
from vit_studio.engine.errors import StudioError
from vit_studio.engine.images import (
    IMAGE_EXTENSIONS,
    ImageFileError,
    PreparedImage,
    is_image_path,
    open_image,
    prepare_image,
    resize_center_crop,
    to_rgb,
)
from vit_studio.engine.model import Preprocessing

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def rgb_pixels(path: Path) -> np.ndarray:
    image = open_image(path)
    assert image.mode == "RGB"
    return np.asarray(image)


def test_extensions_cover_the_formats_we_decode() -> None:
    assert set(IMAGE_EXTENSIONS) == {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif",
                                     ".tiff"}
    assert is_image_path("a/B.JPG") and is_image_path(Path("x.tiff"))
    assert not is_image_path("notes.txt") and not is_image_path("jpg")


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".webp"])
def test_lossless_formats_round_trip_exactly(tmp_path: Path, suffix: str) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    path = tmp_path / f"image{suffix}"
    options = {"lossless": True} if suffix == ".webp" else {}
    Image.fromarray(pixels).save(path, **options)
    np.testing.assert_array_equal(rgb_pixels(path), pixels)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    path = write_image(tmp_path / "plain.jpg", size=(40, 30))
    stored = Image.open(path)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    rotated_path = tmp_path / "rotated.jpg"
    stored.save(rotated_path, exif=exif, quality=95)

    image = open_image(rotated_path)
    assert image.size == (30, 40)
    expected = Image.open(rotated_path).convert("RGB").transpose(Image.Transpose.ROTATE_270)
    np.testing.assert_array_equal(np.asarray(image), np.asarray(expected))


def test_animated_gif_and_webp_give_their_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (8, 6), RED), Image.new("RGB", (8, 6), BLUE)]
    for name, options in (("anim.gif", {}), ("anim.webp", {"lossless": True})):
        path = tmp_path / name
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0,
                       **options)
        assert Image.open(path).n_frames == 2
        pixels = rgb_pixels(path)
        assert pixels.shape == (6, 8, 3)
        assert (pixels == RED).all()


def test_rgba_transparency_is_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((2, 3, 4), dtype=np.uint8)
    rgba[0, 0] = (10, 20, 30, 0)  # fully transparent: white, whatever its colour
    rgba[0, 1] = (10, 20, 30, 255)  # opaque: unchanged
    rgba[0, 2] = (0, 0, 0, 128)  # half transparent black: mid grey
    rgba[1] = (200, 100, 50, 255)
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)

    pixels = rgb_pixels(path)
    assert tuple(pixels[0, 0]) == WHITE
    assert tuple(pixels[0, 1]) == (10, 20, 30)
    assert all(abs(int(v) - 127) <= 1 for v in pixels[0, 2])
    assert (pixels[1] == (200, 100, 50)).all()


def test_la_and_grey_modes(tmp_path: Path) -> None:
    la = Image.new("LA", (4, 2), (60, 255))
    la.putpixel((0, 0), (60, 0))
    la.save(tmp_path / "la.png")
    pixels = rgb_pixels(tmp_path / "la.png")
    assert tuple(pixels[0, 0]) == WHITE
    assert tuple(pixels[1, 1]) == (60, 60, 60)

    Image.new("L", (4, 2), 90).save(tmp_path / "grey.png")
    assert (rgb_pixels(tmp_path / "grey.png") == 90).all()
    Image.new("1", (4, 2), 1).save(tmp_path / "bilevel.bmp")
    assert (rgb_pixels(tmp_path / "bilevel.bmp") == 255).all()


def test_palette_with_and_without_transparency(tmp_path: Path) -> None:
    palette = Image.new("P", (4, 2), 0)
    palette.putpalette([*RED, *BLUE] + [0] * (256 * 3 - 6))
    palette.putpixel((1, 0), 1)

    palette.save(tmp_path / "opaque.png")
    pixels = rgb_pixels(tmp_path / "opaque.png")
    assert tuple(pixels[0, 1]) == BLUE and tuple(pixels[0, 0]) == RED

    for name in ("transparent.png", "transparent.gif"):
        palette.save(tmp_path / name, transparency=1)
        assert open_image(tmp_path / name).mode == "RGB"
        pixels = rgb_pixels(tmp_path / name)
        assert tuple(pixels[0, 1]) == WHITE and tuple(pixels[0, 0]) == RED


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (255, 0, 0, 0)).save(path, quality=100)
    assert Image.open(path).mode == "CMYK"
    pixels = rgb_pixels(path).astype(int)
    assert np.abs(pixels - (0, 255, 255)).max() <= 3  # pure cyan


def test_sixteen_bit_png_uses_its_full_range(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    Image.fromarray(np.array([[0, 1000, 32768, 65535]], dtype=np.uint16)).save(path)
    assert Image.open(path).mode.startswith("I;16")
    pixels = rgb_pixels(path)
    np.testing.assert_array_equal(pixels[0, :, 0], [0, 4, 128, 255])  # not clipped to white
    assert (pixels == pixels[:, :, :1]).all()


def test_float_tiff_is_scaled_not_clipped(tmp_path: Path) -> None:
    path = tmp_path / "float.tif"
    Image.fromarray(np.array([[0.0, 0.25, 0.5, 1.0]], dtype=np.float32)).save(path)
    assert Image.open(path).mode == "F"
    np.testing.assert_array_equal(rgb_pixels(path)[0, :, 1], [0, 64, 128, 255])


@pytest.mark.parametrize(
    ("mode", "values", "expected"),
    [
        ("F", [-1.0, 0.0, 1.0], [0, 128, 255]),  # outside 0..1 and 0..255: min-max stretch
        ("F", [0.0, 100.0, 255.0], [0, 100, 255]),
        ("F", [0.0, float("nan"), 0.5], [0, 0, 128]),
        ("I", [0, 100, 255], [0, 100, 255]),
        ("I", [0, 257, 65535], [0, 1, 255]),
        ("I", [0, 70000, 140000], [0, 128, 255]),
        ("I", [5, 5, 5], [5, 5, 5]),
    ],
)
def test_wide_modes_scale_by_the_range_their_values_fit(mode, values, expected) -> None:
    dtype = np.float32 if mode == "F" else np.int32
    image = Image.fromarray(np.array([values], dtype=dtype))
    assert image.mode == mode
    rgb = to_rgb(image)
    assert rgb.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(rgb)[0, :, 2], expected)


def test_open_image_returns_a_detached_copy(tmp_path: Path) -> None:
    path = write_image(tmp_path / "photo.png")
    image = open_image(path)
    path.unlink()  # the file handle is closed and the pixels are in memory
    assert image.getpixel((0, 0)) is not None


def _garbled_png(path: Path) -> None:
    # libjpeg decodes garbage in JPEG data without complaint; zlib in PNG does not.
    write_image(path, size=(40, 30))
    data = path.read_bytes()
    start = data.index(b"IDAT") + 20
    path.write_bytes(data[:start] + bytes(b ^ 0xFF for b in data[start:start + 100])
                     + data[start + 100:])


def _header_only_png(path: Path) -> None:
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)


def _bad_header_gif(path: Path) -> None:
    path.write_bytes(b"GIF89a" + np.random.default_rng(0).bytes(100))


def _truncated_jpeg(path: Path) -> None:
    write_image(path, size=(40, 30))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _truncated_png(path: Path) -> None:
    write_image(path, size=(40, 30))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 200])


BAD_FILES = {
    "empty.jpg": (lambda p: p.write_bytes(b""), "empty"),
    "notes.jpg": (lambda p: p.write_text("these are my holiday notes\n"), "not an image"),
    "random.png": (lambda p: p.write_bytes(np.random.default_rng(0).bytes(300)), "not an image"),
    "truncated.jpg": (_truncated_jpeg, "truncated"),
    "truncated.png": (_truncated_png, "truncated"),
    "broken.png": (_header_only_png, "corrupt"),
    "garbled.png": (_garbled_png, "corrupt"),
    "broken.gif": (_bad_header_gif, "corrupt"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_files_raise_one_readable_line(tmp_path: Path, name: str) -> None:
    make, reason = BAD_FILES[name]
    path = tmp_path / name
    make(path)
    with pytest.raises(StudioError) as info:
        open_image(path)
    error = info.value
    assert isinstance(error, ImageFileError)
    assert name in str(error) and "\n" not in str(error)
    assert error.path == path
    assert error.reason == reason


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageFileError, match="nothere.png.*not found") as info:
        open_image(tmp_path / "nothere.png")
    assert info.value.reason == "unreadable"
    (tmp_path / "album.jpg").mkdir()
    with pytest.raises(ImageFileError, match="album.jpg.*folder"):
        open_image(tmp_path / "album.jpg")


@pytest.mark.parametrize("limit", [400, 1000])  # 40x30 = 1200 px: beyond 2x limit / warning zone
def test_decompression_bombs_are_refused(tmp_path: Path, monkeypatch, limit: int) -> None:
    path = write_image(tmp_path / "bomb.png", size=(40, 30))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    filters_before = list(warnings.filters)
    with pytest.raises(ImageFileError) as info:
        open_image(path)
    assert info.value.reason == "decompression bomb"
    assert "bomb.png" in str(info.value) and "\n" not in str(info.value)
    assert f"{limit:,}" in str(info.value)
    assert warnings.filters == filters_before


def test_pixel_limit_is_left_alone() -> None:
    pillow_default = 1024 * 1024 * 1024 // 4 // 3
    assert pillow_default == Image.MAX_IMAGE_PIXELS


INTERPOLATIONS = {
    "nearest": InterpolationMode.NEAREST,
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
}


@pytest.mark.parametrize("interpolation", sorted(INTERPOLATIONS))
@pytest.mark.parametrize("size", [(40, 30), (30, 41), (37, 37), (100, 13), (9, 7)])
@pytest.mark.parametrize(("resize", "crop"), [(36, 32), (32, 32), (20, 24)])
def test_prepare_image_matches_torchvision(interpolation, size, resize, crop) -> None:
    rng = np.random.default_rng(sum(size))
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    pre = Preprocessing(resize_size=resize, crop_size=crop, interpolation=interpolation,
                        mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))
    prepared = prepare_image(image, pre)

    mode = INTERPOLATIONS[interpolation]
    reference = TF.center_crop(TF.resize(image, [resize], interpolation=mode, antialias=True),
                               [crop])
    np.testing.assert_array_equal(prepared.pixels, np.asarray(reference))

    preset = ImageClassification(crop_size=crop, resize_size=resize, mean=pre.mean, std=pre.std,
                                 interpolation=mode)
    expected = preset(image)
    assert prepared.tensor.shape == expected.shape == (3, crop, crop)
    assert (prepared.tensor - expected).abs().max() < 1e-5


def test_prepared_image_shapes_and_immutability() -> None:
    image = Image.new("L", (50, 40), 128)
    prepared = prepare_image(image, Preprocessing.for_image_size(32))
    assert isinstance(prepared, PreparedImage)
    assert prepared.pixels.shape == (32, 32, 3) and prepared.pixels.dtype == np.uint8
    assert prepared.tensor.dtype == torch.float32 and prepared.tensor.is_contiguous()
    assert not prepared.pixels.flags.writeable
    with pytest.raises(ValueError):
        prepared.pixels[0, 0, 0] = 1
    mean, std = torch.tensor((0.485, 0.456, 0.406)), torch.tensor((0.229, 0.224, 0.225))
    assert torch.allclose(prepared.tensor[:, 5, 5], (128 / 255 - mean) / std, atol=1e-6)


def test_resize_center_crop_keeps_the_centre() -> None:
    pixels = np.zeros((10, 30, 3), dtype=np.uint8)
    pixels[:, 10:20] = 255
    square = resize_center_crop(Image.fromarray(pixels), 10, 10, "nearest")
    assert square.size == (10, 10)
    assert (np.asarray(square) == 255).all()


def test_a_photo_preview_is_upright_and_shrunk_from_a_reduced_decode(tmp_path: Path) -> None:
    # A large JPEG stored sideways: the preview is decoded at a fraction of its size (JPEG's
    # own scaling), turned upright, and shrunk to the longer side asked for.
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    stored = Image.fromarray(np.kron(blocks, np.ones((200, 200, 1), dtype=np.uint8)))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display": upright, it is 2400 wide, 3200 tall
    path = tmp_path / "sideways.jpg"
    stored.save(path, exif=exif, quality=95)

    preview = photo_preview(path, max_side=400)
    assert preview.shape == (400, 300, 3) and preview.dtype == np.uint8
    upright = Image.open(path).transpose(Image.Transpose.ROTATE_270).resize((300, 400))
    # Flat 200-pixel blocks survive any resampling: compare the blocks' centres.
    centres = np.asarray(upright)[12::25, 12::25].astype(int)
    assert np.abs(preview[12::25, 12::25].astype(int) - centres).max() <= 8
    # The decode itself was reduced, by JPEG's largest scale that keeps 400 pixels a side:
    # 1/8 of 3200 × 2400, upright.
    assert open_image(path, draft_side=400).size == (300, 400)
    assert open_image(path).size == (2400, 3200)
