"""Where the model's input lies in the original picture, checked against stock torchvision.

The pictures encode their own coordinates (red = x, green = y, blue = 255 for real pixels), so
torchvision's resize and centre crop tell us which original pixels each model-input pixel and
patch came from, independently of our arithmetic.
"""

import numpy as np
import pytest
import torchvision.transforms.v2.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

from vit_studio.engine.crop import MAX_SIDE, CropGeometry, crop_geometry, original_image
from vit_studio.engine.model import Preprocessing

MODES = {
    "nearest": InterpolationMode.NEAREST,
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
}
# (width, height, resize, crop): landscape, portrait, square, enlarged, and one too small for
# the crop, which torchvision pads.
CASES = [
    (250, 150, 64, 56),
    (150, 250, 64, 56),
    (200, 200, 64, 56),
    (40, 30, 64, 56),
    (100, 60, 48, 56),
]


def coordinate_picture(width: int, height: int) -> Image.Image:
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[..., 0] = np.arange(width)[None, :]
    pixels[..., 1] = np.arange(height)[:, None]
    pixels[..., 2] = 255
    return Image.fromarray(pixels)


def nearest(position: float) -> set[int]:
    """The pixel whose span holds `position`; on an edge between two, either (rounding decides)."""
    if position == round(position):
        return {round(position) - 1, round(position)}
    return {int(position)}


def model_input(picture: Image.Image, pre: Preprocessing) -> np.ndarray:
    resized = TF.resize(picture, pre.resize_size, interpolation=MODES[pre.interpolation],
                        antialias=True)  # fmt: skip
    return np.asarray(TF.center_crop(resized, pre.crop_size))


@pytest.mark.parametrize(("width", "height", "resize", "crop"), CASES)
def test_each_model_input_pixel_comes_from_the_centre_of_its_box(width, height, resize, crop):
    pre = Preprocessing(resize_size=resize, crop_size=crop, interpolation="nearest")
    seen = model_input(coordinate_picture(width, height), pre)
    # One patch per pixel: each box is the footprint of one model-input pixel.
    pixels = crop_geometry(width, height, pre, grid_size=crop)
    for v in range(crop):
        for u in range(crop):
            left, top, right, bottom = pixels.patch_box(v, u)
            x, y = (left + right) / 2, (top + bottom) / 2
            if 0 <= x < width and 0 <= y < height:
                assert seen[v, u, 2] == 255, (u, v)
                assert seen[v, u, 0] in nearest(x) and seen[v, u, 1] in nearest(y), (u, v)
            else:  # padding: black, and outside the picture
                assert tuple(seen[v, u]) == (0, 0, 0), (u, v)


@pytest.mark.parametrize("interpolation", ["bilinear", "bicubic"])
@pytest.mark.parametrize(("width", "height", "resize", "crop"), CASES[:4])
def test_smooth_resampling_samples_the_same_places(width, height, resize, crop, interpolation):
    pre = Preprocessing(resize_size=resize, crop_size=crop, interpolation=interpolation)
    seen = model_input(coordinate_picture(width, height), pre).astype(np.float64)
    pixels = crop_geometry(width, height, pre, grid_size=crop)
    # Bicubic reaches two resized pixels each way (antialiased: in original pixels when shrinking).
    reach = 2 * max(min(width, height) / resize, 1.0) + 2
    checked = 0
    for v in range(crop):
        for u in range(crop):
            left, top, right, bottom = pixels.patch_box(v, u)
            x, y = (left + right) / 2, (top + bottom) / 2
            # A ramp resamples to itself where the filter does not reach the picture's edge.
            if reach <= x <= width - reach and reach <= y <= height - reach:
                # The ramp's value at a pixel centre is the pixel's index: centre minus a half.
                assert abs(seen[v, u, 0] - (x - 0.5)) <= 0.75
                assert abs(seen[v, u, 1] - (y - 0.5)) <= 0.75
                checked += 1
    assert checked > crop  # the check is not vacuous


@pytest.mark.parametrize(("width", "height", "resize", "crop"), CASES)
def test_a_patch_covers_exactly_the_pixels_of_its_model_input_patch(width, height, resize, crop):
    pre = Preprocessing(resize_size=resize, crop_size=crop, interpolation="nearest")
    grid, patch = 7, crop // 7
    geometry = crop_geometry(width, height, pre, grid)
    pixels = crop_geometry(width, height, pre, grid_size=crop)
    seen = model_input(coordinate_picture(width, height), pre)
    row, column = 2, 5
    left, top, right, bottom = geometry.patch_box(row, column)
    corners = (pixels.patch_box(row * patch, column * patch),
               pixels.patch_box((row + 1) * patch - 1, (column + 1) * patch - 1))  # fmt: skip
    assert (left, top) == pytest.approx(corners[0][:2])
    assert (right, bottom) == pytest.approx(corners[1][2:])
    block = seen[row * patch : (row + 1) * patch, column * patch : (column + 1) * patch]
    real = block[..., 2] == 255
    xs, ys = block[..., 0][real], block[..., 1][real]
    assert np.all((xs >= np.floor(left)) & (xs < right) & (ys >= np.floor(top)) & (ys < bottom))
    # ... and the pixels of the patch reach every edge of the box that lies in the picture.
    step_x, step_y = (right - left) / patch, (bottom - top) / patch
    if real.all():
        assert xs.min() <= left + step_x and xs.max() >= right - step_x - 1
        assert ys.min() <= top + step_y and ys.max() >= bottom - step_y - 1


def test_the_crop_is_the_central_square_of_the_shorter_side():
    pre = Preprocessing(resize_size=256, crop_size=224)
    landscape = crop_geometry(640, 400, pre, 14)
    scale = 400 / 256
    assert landscape.crop == pytest.approx((320 - 112 * scale, 200 - 112 * scale,
                                            320 + 112 * scale, 200 + 112 * scale), abs=scale)
    portrait = crop_geometry(400, 640, pre, 14)
    assert portrait.crop == pytest.approx(tuple(landscape.crop[i] for i in (1, 0, 3, 2)), abs=1)
    assert landscape.bounds == (0.0, 0.0, 640.0, 400.0)
    padded = crop_geometry(100, 60, Preprocessing(resize_size=48, crop_size=56), 7)
    assert padded.crop[1] < 0 and padded.crop[3] > 60
    assert padded.bounds[1] == padded.crop[1] and padded.bounds[3] == padded.crop[3]


def test_points_select_the_patch_under_them_and_nothing_outside_the_crop():
    geometry = crop_geometry(640, 400, Preprocessing(resize_size=256, crop_size=224), 14)
    for row, column in [(0, 0), (3, 8), (13, 13)]:
        left, top, right, bottom = geometry.patch_box(row, column)
        assert geometry.patch_at((left + right) / 2, (top + bottom) / 2) == row * 14 + column
        assert geometry.patch_at(left, top) == row * 14 + column  # edges belong to the patch after
    left, top, right, bottom = geometry.crop
    assert geometry.patch_at(left - 0.5, 200) is None
    assert geometry.patch_at(right, 200) is None
    assert geometry.patch_at(320, bottom + 1) is None
    assert geometry.patch_at(5, 5) is None  # the part of the photo the model never saw


def test_the_model_input_is_a_geometry_of_its_own():
    whole = CropGeometry.whole(32, 4)
    assert whole.patch_box(1, 2) == (16.0, 8.0, 24.0, 16.0)
    assert whole.patch_at(17, 9) == 6


def test_huge_pictures_are_kept_small_with_the_crop_scaled_along():
    pre = Preprocessing(resize_size=256, crop_size=224)
    picture = Image.new("RGB", (5000, 2000), (10, 20, 30))
    kept = original_image(picture, pre, 14)
    assert kept.pixels.shape == (round(2000 * MAX_SIDE / 5000), MAX_SIDE, 3)
    assert not kept.pixels.flags.writeable and kept.source_size == (5000, 2000)
    full = crop_geometry(5000, 2000, pre, 14)
    ratio = MAX_SIDE / 5000
    assert kept.geometry.crop == pytest.approx(tuple(c * ratio for c in full.crop), rel=1e-3)
    small = original_image(Image.new("RGB", (64, 48)), pre, 14)
    assert small.pixels.shape == (48, 64, 3) and small.geometry == crop_geometry(64, 48, pre, 14)
