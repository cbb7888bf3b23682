"""Folders of the kind users bring to the fine-tune, each with test images kept out of it.

`bench_finetune.py` fine-tunes on these and scores on the test images. Every builder writes
`train/<class>/*` (the folder the user would give) and `test/<class>/*` (images of the same
making that the run never sees), from a seeded generator, so a folder is the same on every build.

Most are unlike the bundled model's CIFAR-10 photos, on purpose: grayscale renders of solid
objects, handwriting, printed words, line drawings, textures cut from large images and letters;
three draw on real photos (CIFAR-10 images the bundled model never trained on, and the
cats-and-dogs photos of ../shared) and have classes the bundled model already knows. The
handwriting and texture folders need fonts and wallpapers from Debian packages (see
`SYSTEM_PACKAGES`); a folder whose sources are missing is skipped with a note saying what to
install.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

SYSTEM_PACKAGES = (
    "fonts-dejavu fonts-liberation fonts-humor-sans fonts-dkg-handwriting fonts-breip "
    "fonts-femkeklaver fonts-rufscript gnome-backgrounds"
)
HANDWRITING_FONTS = (
    "/usr/share/fonts/truetype/fifthhorseman/dkg.ttf",
    "/usr/share/fonts/truetype/fifthhorseman/dkgBd.ttf",
    "/usr/share/fonts/truetype/fifthhorseman/dkgIt.ttf",
    "/usr/share/fonts/truetype/femkeklaver/femkeklaver.ttf",
    "/usr/share/fonts/truetype/breip/Breip.ttf",
    "/usr/share/fonts/truetype/rufscript/Rufscript010.ttf",
    "/usr/share/fonts/truetype/humor-sans/Humor-Sans.ttf",
)
PRINT_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Italic.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
)
WALLPAPERS = Path("/usr/share/backgrounds/gnome")
TEXTURES = ("adwaita", "grid", "licorice", "pixels", "truchet", "wood")
VEHICLES = ("airplane", "automobile", "ship", "truck")

# (train folder, test folder, random generator) -> writes the images
Builder = Callable[[Path, Path, np.random.Generator], None]


@dataclass(frozen=True)
class Folder:
    name: str
    what: str
    per_class: int  # training images a class (the smallest class, for uneven folders)
    build: Builder
    needs: tuple[Path, ...] = ()  # files the builder reads; missing: the folder is skipped

    @property
    def slug(self) -> str:
        return "".join(c if c.isalnum() else "_" for c in self.name).strip("_")

    def missing(self) -> list[Path]:
        return [path for path in self.needs if not path.exists()]


def write(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def per_class_builder(
    classes: Sequence[str],
    train_count: Callable[[int], int],
    test_count: int,
    draw: Callable[[int, np.random.Generator], Image.Image],
    suffix: str = ".png",
) -> Builder:
    """A builder that draws `train_count(k)` + `test_count` images of each class k."""

    def build(train: Path, test: Path, rng: np.random.Generator) -> None:
        for k, name in enumerate(classes):
            count = train_count(k)
            for index in range(count + test_count):
                target = train if index < count else test
                write(draw(k, rng), target / name / f"{name}-{index:03d}{suffix}")

    return build


# --- real photos --------------------------------------------------------------------------------


def cifar_held_out(shared: Path) -> dict[str, list[Path]]:
    """The bundled model's held-out CIFAR-10 images by class (its training split: seed 0)."""
    from vit_studio.engine.data import scan_folder

    scan = scan_folder(
        shared / "datasets" / "cifar10" / "train", val_share=0.1, seed=0, verify=False
    )
    by_class: dict[str, list[Path]] = {name: [] for name in scan.class_names}
    for item in scan.val:
        by_class[scan.class_names[item.label]].append(item.path)
    return by_class


def cifar_builder(
    shared: Path,
    counts: Callable[[int, str], int],
    test_count: int,
    *,
    classes: Callable[[str], str] = lambda name: name,
    size: int | None = None,
) -> Builder:
    """`counts(k, class)` held-out CIFAR images per class (renamed by `classes`), the next
    `test_count` as test images; upscaled to `size` px when given."""

    def build(train: Path, test: Path, _rng: np.random.Generator) -> None:
        images = cifar_held_out(shared)
        for k, (name, paths) in enumerate(sorted(images.items())):
            count = counts(k, name)
            for index, path in enumerate(paths[: count + test_count]):
                image = Image.open(path).convert("RGB")
                if size is not None:
                    image = image.resize((size, size), Image.Resampling.BICUBIC)
                target = train if index < count else test
                suffix = ".png" if size else ".jpg"
                write(image, target / classes(name) / f"{name}-{index:03d}{suffix}")

    return build


def cats_dogs_builder(shared: Path, per_class: int, test_count: int) -> Builder:
    """Real photos up to 320 px: `per_class` of each from its train/, the test images from val/
    (the folder names are cats and dogs, as a user names them)."""
    root = shared / "datasets" / "cats-dogs"

    def build(train: Path, test: Path, _rng: np.random.Generator) -> None:
        for name in ("cats", "dogs"):
            for split, target, count in (("train", train, per_class), ("val", test, test_count)):
                for path in sorted((root / split / name).iterdir())[:count]:
                    write(Image.open(path).convert("RGB"), target / name / path.name)

    return build


# --- renders of solid objects ------------------------------------------------------------------

SHAPES = (
    "sphere",
    "cube",
    "torus",
    "cylinder",
    "cone",
    "capsule",
    "octahedron",
    "hexprism",
    "ring",
    "mug",
)


def _rotation(rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.diag(r))


def _sdf(shape: str, p: np.ndarray) -> np.ndarray:
    """Signed distance of points p [..., 3] to a unit-sized `shape` at the origin."""
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    if shape == "sphere":
        return np.linalg.norm(p, axis=-1) - 0.8
    if shape == "cube":
        q = np.abs(p) - 0.6
        return np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(-1), 0) - 0.05
    if shape == "torus":
        return np.hypot(np.hypot(x, z) - 0.6, y) - 0.25
    if shape == "ring":  # a thin, wide torus
        return np.hypot(np.hypot(x, z) - 0.7, y * 0.5) - 0.1
    if shape == "cylinder":
        d = np.stack([np.hypot(x, z) - 0.5, np.abs(y) - 0.7], -1)
        return np.minimum(d.max(-1), 0) + np.linalg.norm(np.maximum(d, 0), axis=-1)
    if shape == "cone":
        h = np.clip(y + 0.7, 0, 1.4) / 1.4
        return np.maximum(np.hypot(x, z) - 0.6 * (1 - h), np.abs(y) - 0.7) * 0.8
    if shape == "capsule":
        yy = np.clip(y, -0.5, 0.5)
        return np.sqrt(x**2 + (y - yy) ** 2 + z**2) - 0.35
    if shape == "octahedron":
        return (np.abs(x) + np.abs(y) + np.abs(z) - 1.0) * 0.577
    if shape == "hexprism":
        k = (-0.866, 0.5, 0.577)
        q = np.abs(p)
        dot = np.minimum(k[0] * q[..., 0] + k[1] * q[..., 1], 0)
        qx, qy = q[..., 0] - 2 * dot * k[0], q[..., 1] - 2 * dot * k[1]
        h = (0.6, 0.5)
        dx = np.hypot(qx - np.clip(qx, -k[2] * h[0], k[2] * h[0]), qy - h[0]) * np.sign(qy - h[0])
        dy = q[..., 2] - h[1]
        return np.minimum(np.maximum(dx, dy), 0) + np.hypot(np.maximum(dx, 0), np.maximum(dy, 0))
    if shape == "mug":  # a hollow cylinder with a handle
        body = np.maximum(np.abs(np.hypot(x, z) - 0.45) - 0.06, np.abs(y) - 0.55)
        handle = np.hypot(np.hypot(x - 0.5, y) - 0.28, z) - 0.07
        return np.minimum(body, handle)
    raise ValueError(shape)


def _turntable(rng: np.random.Generator) -> np.ndarray:
    """A turn about the vertical axis after a fixed tilt towards the camera (COIL's set-up)."""
    angle = rng.uniform(0, 2 * np.pi)
    c, s = np.cos(angle), np.sin(angle)
    turn = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    tilt = 0.35
    lean = np.array([[1, 0, 0], [0, np.cos(tilt), -np.sin(tilt)], [0, np.sin(tilt), np.cos(tilt)]])
    return lean @ turn


def render_object(
    shape: str, rng: np.random.Generator, size: int = 64, *, turntable: bool = False
) -> Image.Image:
    """A grayscale photo-like render: the object turned at random, lit from a random side, at a
    random size and place, on a plain background with a little sensor noise. `turntable`: as
    COIL photographs objects, centred on a black turntable, lit from one side, turned about the
    vertical only (the raw pixels say much then)."""
    side = size * 2  # rendered at twice the size and shrunk: smooth edges
    rotation = _turntable(rng) if turntable else _rotation(rng)
    scale = rng.uniform(0.95, 1.05) if turntable else rng.uniform(0.8, 1.15)
    jitter = 0.03 if turntable else 0.25
    offset = np.array([*rng.uniform(-jitter, jitter, 2), 0.0])
    u = (np.arange(side) + 0.5) / side * 2 - 1
    px, py = np.meshgrid(u, -u)
    direction = np.stack([px * 0.45, py * 0.45, np.full_like(px, -1.0)], -1)
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    origin = np.array([0.0, 0.0, 3.2])

    def distance(points: np.ndarray) -> np.ndarray:
        local = ((points - offset) @ rotation) / scale
        return _sdf(shape, local) * scale

    t = np.zeros(px.shape)
    for _ in range(80):
        t += distance(origin + direction * t[..., None]) * 0.9
    points = origin + direction * t[..., None]
    hit = distance(points) < 1e-2
    eps = 1e-3
    normal = np.stack(
        [
            distance(points + np.eye(3)[axis] * eps) - distance(points - np.eye(3)[axis] * eps)
            for axis in range(3)
        ],
        -1,
    )
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True) + 1e-9
    light = np.array([0.5, 0.6, 1.0]) if turntable else rng.normal(size=3) + np.array([0, 0, 2.0])
    light /= np.linalg.norm(light)
    diffuse = np.clip(normal @ light, 0, 1)
    half = light - direction
    half /= np.linalg.norm(half, axis=-1, keepdims=True)
    specular = np.clip((normal * half).sum(-1), 0, 1) ** 30
    albedo = 0.8 if turntable else rng.uniform(0.5, 0.95)
    shade = 0.15 + albedo * diffuse * 0.8 + 0.35 * specular
    background = 0.02 if turntable else rng.uniform(0.05, 0.5)
    pixels = np.where(hit, shade, background)
    image = Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8)).resize(
        (size, size), Image.Resampling.LANCZOS
    )
    noisy = np.asarray(image, float) + rng.normal(0, 6, (size, size))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)).convert("RGB")


# --- handwriting, print, drawings ---------------------------------------------------------------


def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _warp(image: Image.Image, rng: np.random.Generator, amount: float) -> Image.Image:
    """A smooth random displacement (elastic distortion): no two strokes alike."""
    size = image.size[0]
    coarse = rng.normal(0, amount, (2, 5, 5)).astype(np.float32)
    fields = [
        np.asarray(Image.fromarray(c).resize((size, size), Image.Resampling.BICUBIC))
        for c in coarse
    ]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    src = np.asarray(image, np.float32)
    sx = np.clip(xx + fields[0], 0, size - 1).astype(int)
    sy = np.clip(yy + fields[1], 0, size - 1).astype(int)
    return Image.fromarray(src[sy, sx].astype(np.uint8))


def handwritten_digit(k: int, rng: np.random.Generator, size: int = 64) -> Image.Image:
    """Digit k in one of several handwriting fonts, turned, sheared, warped: dark ink on paper."""
    canvas = Image.new("L", (size * 2, size * 2), 0)
    draw = ImageDraw.Draw(canvas)
    font = _font(
        HANDWRITING_FONTS[rng.integers(len(HANDWRITING_FONTS))], int(rng.integers(70, 100))
    )
    draw.text(
        (size + rng.integers(-8, 9), size + rng.integers(-8, 9)),
        str(k),
        fill=255,
        font=font,
        anchor="mm",
        stroke_width=int(rng.integers(0, 4)),
        stroke_fill=255,
    )
    shear = rng.uniform(-0.3, 0.3)
    canvas = canvas.transform(
        canvas.size,
        Image.Transform.AFFINE,
        (1, shear, -shear * size, 0, 1, 0),
        Image.Resampling.BILINEAR,
    )
    canvas = canvas.rotate(float(rng.uniform(-15, 15)), Image.Resampling.BILINEAR)
    canvas = _warp(canvas, rng, 4.0).resize((size, size), Image.Resampling.LANCZOS)
    ink = np.asarray(canvas, float) / 255
    paper = rng.uniform(200, 250) - ink * rng.uniform(140, 200) + rng.normal(0, 8, ink.shape)
    return Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8)).convert("RGB")


def centred_digit(k: int, rng: np.random.Generator, size: int = 64) -> Image.Image:
    """Digit k drawn near the centre, a little jittered, thickened, turned and noisy, light on
    dark: aligned like scanned forms, so the raw pixels already say much."""
    font = ImageFont.load_default(size=int(rng.integers(40, 56)))
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    dx, dy = rng.integers(-3, 4, size=2)
    draw.text(
        (size / 2 + int(dx), size / 2 + int(dy)), str(k), fill=255, font=font, anchor="mm",
        stroke_width=int(rng.integers(0, 3)), stroke_fill=255,
    )  # fmt: skip
    canvas = canvas.rotate(float(rng.uniform(-10, 10)), resample=Image.Resampling.BILINEAR)
    pixels = np.clip(np.asarray(canvas, float) + rng.normal(0, 20, (size, size)), 0, 255)
    return Image.fromarray(pixels.astype(np.uint8)).convert("RGB")


WORDS = ("cat", "sun", "map", "ink", "fog", "owl", "jar", "key")


def printed_word(k: int, rng: np.random.Generator, size: int = 64) -> Image.Image:
    """A short word in a random printed typeface, size, place and colour, on a noisy ground."""
    font = _font(PRINT_FONTS[rng.integers(len(PRINT_FONTS))], int(rng.integers(16, 26)))
    ground = tuple(int(v) for v in rng.integers(120, 256, 3))
    ink = tuple(int(v) for v in rng.integers(0, 110, 3))
    canvas = Image.new("RGB", (size, size), ground)
    draw = ImageDraw.Draw(canvas)
    draw.text(
        (size / 2 + rng.integers(-10, 11), size / 2 + rng.integers(-14, 15)),
        WORDS[k],
        fill=ink,
        font=font,
        anchor="mm",
    )
    canvas = canvas.rotate(float(rng.uniform(-12, 12)), Image.Resampling.BILINEAR, fillcolor=ground)
    noisy = np.asarray(canvas, float) + rng.normal(0, 10, (size, size, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


GLYPHS = "ABCDEFGHIJ"


def glyph(k: int, rng: np.random.Generator, size: int = 64) -> Image.Image:
    """Letter k at a random size, place, angle and stroke, light on dark, with noise."""
    font = ImageFont.load_default(size=int(rng.integers(26, 52)))
    canvas = Image.new("L", (96, 96), int(rng.integers(0, 60)))
    draw = ImageDraw.Draw(canvas)
    x, y = rng.integers(18, 40, size=2)
    draw.text(
        (int(x), int(y)),
        GLYPHS[k],
        fill=int(rng.integers(170, 256)),
        font=font,
        stroke_width=int(rng.integers(0, 3)),
    )
    canvas = canvas.rotate(float(rng.uniform(-25, 25)), resample=Image.Resampling.BILINEAR)
    pixels = np.clip(np.asarray(canvas, float) + rng.normal(0, 12, (96, 96)), 0, 255)
    return Image.fromarray(pixels.astype(np.uint8)).resize((size, size)).convert("RGB")


DRAWINGS = (
    "circle",
    "triangle",
    "square",
    "star",
    "arrow",
    "spiral",
    "zigzag",
    "cross",
    "house",
    "wave",
)


def _drawing_points(shape: str, rng: np.random.Generator) -> list[list[tuple[float, float]]]:
    """The strokes of `shape` in [-1, 1]², as lists of points."""
    t = np.linspace(0, 2 * np.pi, 60)
    if shape == "circle":
        return [list(zip(np.cos(t), np.sin(t), strict=True))]
    if shape in ("triangle", "square"):
        n = 3 if shape == "triangle" else 4
        a = np.linspace(0, 2 * np.pi, n + 1) + np.pi / 2 + (np.pi / 4 if n == 4 else 0)
        return [list(zip(np.cos(a), -np.sin(a), strict=True))]
    if shape == "star":
        a = np.linspace(0, 4 * np.pi, 6) + np.pi / 2
        return [list(zip(np.cos(a), -np.sin(a), strict=True))]
    if shape == "arrow":
        return [[(-1, 0), (1, 0)], [(0.4, -0.5), (1, 0), (0.4, 0.5)]]
    if shape == "spiral":
        s = np.linspace(0, 5 * np.pi, 120)
        r = s / s[-1]
        return [list(zip(r * np.cos(s), r * np.sin(s), strict=True))]
    if shape == "zigzag":
        return [[(-1 + 0.4 * i, -0.5 if i % 2 else 0.5) for i in range(6)]]
    if shape == "cross":
        return [[(-1, -1), (1, 1)], [(-1, 1), (1, -1)]]
    if shape == "house":
        return [[(-0.7, 1), (-0.7, -0.1), (0, -0.9), (0.7, -0.1), (0.7, 1), (-0.7, 1)]]
    if shape == "wave":
        x = np.linspace(-1, 1, 60)
        return [list(zip(x, 0.5 * np.sin(x * np.pi * rng.uniform(1.5, 2.5)), strict=True))]
    raise ValueError(shape)


def line_drawing(k: int, rng: np.random.Generator, size: int = 64) -> Image.Image:
    """A shape drawn by a shaky hand: jittered strokes, random size, place and turn."""
    canvas = Image.new("L", (size * 2, size * 2), 255)
    draw = ImageDraw.Draw(canvas)
    angle = rng.uniform(-0.5, 0.5)
    rotate = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    scale = rng.uniform(0.5, 0.85) * size
    centre = size + rng.uniform(-0.2, 0.2, 2) * size
    width = int(rng.integers(3, 8))
    for stroke in _drawing_points(DRAWINGS[k], rng):
        points = np.asarray(stroke, float)
        dense = np.concatenate(
            [
                np.linspace(a, b, 8, endpoint=False)
                for a, b in zip(points[:-1], points[1:], strict=True)
            ]
            + [points[-1:]]
        )
        wobble = np.cumsum(rng.normal(0, 0.015, dense.shape), 0)
        xy = (dense + wobble) @ rotate.T * scale + centre
        draw.line([tuple(p) for p in xy], fill=0, width=width, joint="curve")
    canvas = canvas.filter(ImageFilter.GaussianBlur(0.6)).resize((size, size), Image.LANCZOS)
    return canvas.convert("RGB")


# --- textures -----------------------------------------------------------------------------------


def texture_builder(per_class: int, test_count: int, size: int = 64) -> Builder:
    """Grayscale crops of the GNOME wallpapers, one class per wallpaper (light or dark version),
    at random places, scales and quarter turns, contrast and brightness varied: only the
    texture tells them apart."""

    def build(train: Path, test: Path, rng: np.random.Generator) -> None:
        for name in TEXTURES:
            sources = [
                ImageOps.grayscale(Image.open(WALLPAPERS / f"{name}-{tone}.webp"))
                for tone in ("l", "d")
            ]
            for index in range(per_class + test_count):
                source = sources[rng.integers(2)]
                side = int(rng.integers(300, 900))
                x, y = (int(v) for v in rng.integers(0, source.size[0] - side, 2))
                crop = source.crop((x, y, x + side, y + side)).resize((size, size), Image.LANCZOS)
                crop = crop.rotate(90 * int(rng.integers(4)))
                pixels = np.asarray(crop, float)
                pixels = (pixels - pixels.mean()) * rng.uniform(0.6, 1.6) + rng.uniform(70, 180)
                image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).convert("RGB")
                target = train if index < per_class else test
                write(image, target / name / f"{name}-{index:03d}.png")

    return build


# --- the set ------------------------------------------------------------------------------------


def folders(shared: Path, test_count: int = 50) -> list[Folder]:
    """The benchmark's folders, CIFAR-like ones first."""
    cifar = shared / "datasets" / "cifar10" / "train"
    cats_dogs = shared / "datasets" / "cats-dogs"
    fonts = tuple(Path(p) for p in HANDWRITING_FONTS + PRINT_FONTS)
    walls = tuple(WALLPAPERS / f"{n}-{t}.webp" for n in TEXTURES for t in ("l", "d"))
    return [
        Folder(
            "cifar 10 x 20",
            "held-out CIFAR-10, 32 px JPEG: classes the base model has",
            20,
            cifar_builder(shared, lambda k, n: 20, test_count),
            (cifar,),
        ),
        Folder(
            "cifar 10 x 60, 128 px",
            "held-out CIFAR-10 upscaled to 128 px PNG",
            60,
            cifar_builder(shared, lambda k, n: 60, test_count, size=128),
            (cifar,),
        ),
        Folder(
            "cifar 10 x 5",
            "5 images a class (too few for the ratio target)",
            5,
            cifar_builder(shared, lambda k, n: 5, test_count),
            (cifar,),
        ),
        Folder(
            "cifar imbalanced 5-200",
            "held-out CIFAR-10, 5 to 200 images a class (under 20 a class: no target)",
            5,
            cifar_builder(shared, lambda k, n: round(5 * 40 ** (k / 9)), test_count),
            (cifar,),
        ),
        Folder(
            "cats-dogs 2 x 150",
            "real photos up to 320 px, named cats and dogs",
            150,
            cats_dogs_builder(shared, 150, 2 * test_count),
            (cats_dogs,),
        ),
        Folder(
            "objects 10 x 60, gray 64 px",
            "grayscale renders of solid objects, turned and lit at random",
            60,
            per_class_builder(
                SHAPES, lambda k: 60, test_count, lambda k, r: render_object(SHAPES[k], r)
            ),
        ),
        Folder(
            "turntable 10 x 60, gray 64 px",
            "the objects as COIL photographs them: centred, turned about the vertical, one light",
            60,
            per_class_builder(
                SHAPES,
                lambda k: 60,
                test_count,
                lambda k, r: render_object(SHAPES[k], r, turntable=True),
            ),
        ),
        Folder(
            "digits 10 x 60, 64 px",
            "centred printed digits, noisy: the pixels alone do well",
            60,
            per_class_builder([str(d) for d in range(10)], lambda k: 60, test_count, centred_digit),
        ),
        Folder(
            "handwriting 10 x 40, 64 px",
            "digits in 7 handwriting fonts, sheared and warped",
            40,
            per_class_builder(
                [str(d) for d in range(10)], lambda k: 40, test_count, handwritten_digit
            ),
            fonts,
        ),
        Folder(
            "words 8 x 50, 64 px",
            "printed three-letter words, colour, noise",
            50,
            per_class_builder(WORDS, lambda k: 50, test_count, printed_word),
            fonts,
        ),
        Folder(
            "drawings 10 x 40, 64 px",
            "shapes drawn by a shaky hand, black on white",
            40,
            per_class_builder(DRAWINGS, lambda k: 40, test_count, line_drawing),
        ),
        Folder(
            "textures 6 x 60, 64 px",
            "gray crops of six wallpapers at random scales",
            60,
            texture_builder(60, test_count),
            walls,
        ),
        Folder(
            "glyphs 10 x 40, 64 px",
            "letters A-J, random size, place, angle, light on dark",
            40,
            per_class_builder(GLYPHS, lambda k: 40, test_count, glyph),
        ),
    ]
