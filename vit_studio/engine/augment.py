"""Batched training augmentation that runs on the model's device, one call per batch.

Per-image PIL pipelines need CPU worker processes to keep a GPU busy, and a 2-core laptop has
none to spare. Here a whole uint8 batch, already on the training device, goes through tensor
ops with per-sample random parameters:

1. geometry: random-resized crop, horizontal flip and TrivialAugment's shear / translate /
   rotate, folded into one affine per sample and applied by a single `grid_sample`;
2. colour: TrivialAugment-Wide's brightness, colour, contrast, sharpness, posterize, solarize,
   autocontrast and equalize (a sample gets the one op its TrivialAugment draw picked);
3. normalisation with the model's mean/std;
4. random erasing (per sample), then Mixup or CutMix (per batch, soft targets).

Every op is computed for the whole batch and selected per sample with masks: that costs some
arithmetic on tiny tensors but never a host-device synchronisation, so a CUDA step stays
asynchronous. Per-sample numbers come from one draw of a `torch.Generator` on the batch's
device; per-batch choices (Mixup or CutMix, lambda, the CutMix box) from a `random.Random` on the
host. Both restart from a seed (`reseed`), which is how training makes runs reproducible and
resumable.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
import torch.nn.functional as F
from torchvision.transforms.v2.functional import equalize

from vit_studio.engine.errors import StudioError

# The named recipes (`AugmentConfig.preset`), from none to the from-scratch default.
AUGMENT_PRESETS = ("off", "gentle", "light", "strong")
# Whether training images are mirrored: "auto" is decided on the folder (`training.mirror_test`).
FLIP_AUTO, FLIP_ON, FLIP_OFF = "auto", "on", "off"
FLIP_CHOICES = (FLIP_AUTO, FLIP_ON, FLIP_OFF)
# TrivialAugment-Wide's ops, in the order of their index. Magnitudes are drawn uniformly from
# [0, max] (signed ops get a random sign); the maxima are the "wide" space of Müller & Hutter
# (2021), except translation, which is a share of the image side so it means the same at 32 and
# 224 pixels (0.45, timm's RandAugment maximum, rather than a fixed 32 pixels).
TRIVIAL_OPS = (
    "identity", "shear_x", "shear_y", "translate_x", "translate_y", "rotate",
    "brightness", "color", "contrast", "sharpness", "posterize", "solarize",
    "autocontrast", "equalize",
)  # fmt: skip
_OP = {name: index for index, name in enumerate(TRIVIAL_OPS)}
SHEAR_MAX = 0.99
TRANSLATE_MAX = 0.45
ROTATE_MAX_DEGREES = 135.0
ENHANCE_MAX = 0.99
POSTERIZE_MIN_BITS = 2

# timm's random-erasing ranges (area share of the image, aspect ratio of the box).
ERASE_AREA = (0.02, 1 / 3)
ERASE_RATIO = (0.3, 3.3)

_LUMA = (0.299, 0.587, 0.114)  # PIL's "L" conversion, used by the colour and contrast ops

# The per-sample random numbers of a batch: one column each of a single uniform draw.
_DRAWS = (
    "area", "ratio", "centre_x", "centre_y", "flip", "op", "magnitude", "sign",
    "erase_area", "erase_ratio", "erase_top", "erase_left", "erase",
)  # fmt: skip
_DRAW = {name: column for column, name in enumerate(_DRAWS)}


@dataclass(frozen=True)
class AugmentConfig:
    """What `BatchAugmenter` does to a training batch; probabilities are per sample.

    The defaults are the strong recipe for training from scratch on small images (Compact
    Transformers / DeiT style); `gentle()` is the fine-tune's, `light()` crops harder, `off()`
    only normalises (validation).
    """

    crop_scale: tuple[float, float] | None = (0.35, 1.0)  # area share kept; None: no crop
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    hflip: float = 0.5
    trivial_augment: bool = True
    erasing: float = 0.25
    mixup_alpha: float = 0.8  # 0 turns Mixup off
    cutmix_alpha: float = 1.0  # 0 turns CutMix off
    mix_prob: float = 1.0  # share of batches that are mixed
    cutmix_share: float = 0.5  # when both are on: share of mixed batches that use CutMix

    def __post_init__(self) -> None:
        for name in ("hflip", "erasing", "mix_prob", "cutmix_share"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise StudioError(f"augmentation {name}={value} is not a probability in [0, 1]")
        for name in ("mixup_alpha", "cutmix_alpha"):
            if getattr(self, name) < 0:
                raise StudioError(f"augmentation {name} must be >= 0 (0 turns it off)")
        if self.crop_scale is not None:
            low, high = self.crop_scale
            if not 0.0 < low <= high <= 1.0:
                raise StudioError(
                    f"augmentation crop_scale {self.crop_scale} must be 0 < a <= b <= 1"
                )
        low, high = self.crop_ratio
        if not 0.0 < low <= high:
            raise StudioError(f"augmentation crop_ratio {self.crop_ratio} must be 0 < a <= b")

    @classmethod
    def off(cls) -> AugmentConfig:
        """No augmentation: the batch is only resized (if needed) and normalised."""
        return cls(
            crop_scale=None, hflip=0.0, trivial_augment=False, erasing=0.0,
            mixup_alpha=0.0, cutmix_alpha=0.0,
        )  # fmt: skip

    @classmethod
    def gentle(cls) -> AugmentConfig:
        """Crops that keep at least 80 % of the image, and flips: a small object or a glyph keeps
        what tells it apart (the fine-tune's default, whose flips its `flip` setting decides)."""
        return replace(cls.off(), crop_scale=(0.8, 1.0), hflip=0.5)

    @classmethod
    def light(cls) -> AugmentConfig:
        """Random-resized crop and flip only: for fine-tuning on a few hundred images."""
        return replace(cls.off(), crop_scale=(0.5, 1.0), hflip=0.5)

    @classmethod
    def preset(cls, name: str) -> AugmentConfig:
        """One of `AUGMENT_PRESETS`: off, gentle (crops keeping 80 %, flips), light (crops
        keeping half, flips) or strong (the defaults)."""
        presets = {"off": cls.off, "gentle": cls.gentle, "light": cls.light, "strong": cls}
        if name not in presets:
            raise StudioError(
                f"augmentation '{name}' is unknown; choose one of {', '.join(AUGMENT_PRESETS)}"
            )
        return presets[name]()

    def preset_name(self) -> str | None:
        """The preset this is, Mixup, CutMix and mirroring aside (they are set on their own);
        None if none."""
        aside = {"mixup_alpha": 0.0, "cutmix_alpha": 0.0, "hflip": 0.0}
        unmixed = replace(self, **aside)
        for name in AUGMENT_PRESETS:
            if replace(AugmentConfig.preset(name), **aside) == unmixed:
                return name
        return None

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> AugmentConfig:
        """Inverse of `dataclasses.asdict` (tuples come back from JSON / checkpoints as lists)."""
        known = {f.name for f in fields(cls)}
        clean = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known}
        return cls(**clean)

    @property
    def moves_pixels(self) -> bool:
        return self.crop_scale is not None or self.hflip > 0 or self.trivial_augment

    @property
    def mixes(self) -> bool:
        """True when targets are soft (Mixup/CutMix may blend two labels)."""
        return self.mix_prob > 0 and (self.mixup_alpha > 0 or self.cutmix_alpha > 0)


def normalize_images(
    images: torch.Tensor,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    size: int | None = None,
) -> torch.Tensor:
    """uint8 [B,3,H,W] -> normalised float32, resized (antialiased) to `size` if it differs."""
    x = _resize(images.float().div_(255.0), size or images.shape[-1])
    return x.sub_(_channel_tensor(mean, x.device)).div_(_channel_tensor(std, x.device))


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def _channel_tensor(values: tuple[float, ...], device: torch.device) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32, device=device).view(1, -1, 1, 1)


class BatchAugmenter:
    """Augments uint8 batches on their device with per-sample randomness, reproducibly."""

    def __init__(
        self,
        config: AugmentConfig,
        *,
        out_size: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        num_classes: int,
        device: torch.device | str,
        seed: int = 0,
        compile: bool = False,
    ) -> None:
        self.config = config
        self.out_size = out_size
        self.num_classes = num_classes
        self.device = torch.device(device)
        # Built once: a tensor made from Python numbers per batch would be a host-device copy.
        self._mean = _channel_tensor(tuple(mean), self.device)
        self._std = _channel_tensor(tuple(std), self.device)
        self._luma = _channel_tensor(_LUMA, self.device)
        # PIL's SMOOTH filter (1s around a 5, over 13), one copy per channel (depthwise conv).
        smooth = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
        self._smooth = smooth.expand(3, 1, 3, 3).contiguous().to(self.device)
        self.generator = torch.Generator(device=self.device)
        self.host_rng = random.Random()
        self.reseed(seed)
        # The pixel work is a pure function of the batch and its random draws, so torch.compile
        # can fuse its ~100 small ops into a few kernels: on a GPU, small images make it
        # launch-bound otherwise.
        self._pixels = torch.compile(self._transform, dynamic=False) if compile else self._transform

    def reseed(self, seed: int) -> None:
        """Restart both random streams from `seed`.

        Training reseeds at every epoch start, so a resumed run draws the same numbers without
        carrying generator states (which differ between CPU and CUDA) in its checkpoint.
        """
        self.generator.manual_seed(seed)
        self.host_rng.seed(seed)

    def __call__(
        self, images: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images [B,3,H,W] and int64 labels [B] -> (normalised float32 input, targets).

        Targets are float32 class probabilities [B, classes] when the config mixes (also for
        batches that happen not to be mixed, so their dtype never changes within a run), else the
        int64 labels themselves; `F.cross_entropy` accepts both.
        """
        n = images.shape[0]
        # Every per-sample random number of the batch, from one kernel.
        draws = torch.rand(n, len(_DRAWS), generator=self.generator, device=self.device)
        noise = None
        if self.config.erasing > 0:
            shape = (n, images.shape[1], self.out_size, self.out_size)
            noise = torch.randn(shape, generator=self.generator, device=self.device)
        x = self._pixels(images, draws, noise)
        if not self.config.mixes:
            return x, labels
        return self._mix(x, F.one_hot(labels, self.num_classes).float())

    def _transform(
        self, images: torch.Tensor, draws: torch.Tensor, noise: torch.Tensor | None
    ) -> torch.Tensor:
        cfg = self.config
        x = images.float() / 255.0
        ops = None
        if cfg.trivial_augment:
            ops = (draws[:, _DRAW["op"]] * len(TRIVIAL_OPS)).long()
        x = self._geometry(x, draws, ops) if cfg.moves_pixels else _resize(x, self.out_size)
        if ops is not None:
            x = self._colour(x, draws, ops)
        x = (x - self._mean) / self._std
        if noise is not None:
            x = self._erase(x, draws, noise)
        return x

    def _geometry(
        self, x: torch.Tensor, draws: torch.Tensor, ops: torch.Tensor | None
    ) -> torch.Tensor:
        """Crop, flip and TrivialAugment's geometric op as one affine sample per image."""
        cfg = self.config
        n = x.shape[0]
        # affine_grid maps output coordinates in [-1, 1] to input coordinates. The crop is a
        # scale (half-sizes w, h; negative w flips) plus a centre; TrivialAugment's op acts on
        # the cropped image first, so input = crop(trivial(output)).
        ones, zeros = torch.ones(n, device=x.device), torch.zeros(n, device=x.device)
        half_w, half_h, centre_x, centre_y = ones, ones, zeros, zeros
        if cfg.crop_scale is not None:
            area = _between(draws[:, _DRAW["area"]], *cfg.crop_scale)
            log_ratios = (math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1]))
            ratio = _between(draws[:, _DRAW["ratio"]], *log_ratios).exp()
            half_w = (area * ratio).sqrt().clamp(max=1.0)
            half_h = (area / ratio).sqrt().clamp(max=1.0)
            centre_x = (1.0 - half_w) * _between(draws[:, _DRAW["centre_x"]], -1.0, 1.0)
            centre_y = (1.0 - half_h) * _between(draws[:, _DRAW["centre_y"]], -1.0, 1.0)
        if cfg.hflip > 0:
            half_w = torch.where(draws[:, _DRAW["flip"]] < cfg.hflip, -half_w, half_w)

        a, b, c, d, tx, ty = ones, zeros, zeros, ones, zeros, zeros
        if ops is not None:
            signed = _signed_magnitude(draws)
            angle = signed * math.radians(ROTATE_MAX_DEGREES)
            rotate = ops == _OP["rotate"]
            shear = signed * SHEAR_MAX
            a = d = torch.where(rotate, angle.cos(), ones)
            b = torch.where(rotate, -angle.sin(), torch.where(ops == _OP["shear_x"], shear, zeros))
            c = torch.where(rotate, angle.sin(), torch.where(ops == _OP["shear_y"], shear, zeros))
            # A shift by a share t of the side is 2t in [-1, 1] coordinates.
            tx = torch.where(ops == _OP["translate_x"], signed * (2 * TRANSLATE_MAX), zeros)
            ty = torch.where(ops == _OP["translate_y"], signed * (2 * TRANSLATE_MAX), zeros)
        theta = torch.stack(
            [
                torch.stack([half_w * a, half_w * b, half_w * tx + centre_x], dim=1),
                torch.stack([half_h * c, half_h * d, half_h * ty + centre_y], dim=1),
            ],
            dim=1,
        )
        size = [n, x.shape[1], self.out_size, self.out_size]
        grid = F.affine_grid(theta, size, align_corners=False)
        # Pixels shifted in from outside the image are black, as in torchvision's TrivialAugment.
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def _colour(self, x: torch.Tensor, draws: torch.Tensor, ops: torch.Tensor) -> torch.Tensor:
        """TrivialAugment's colour ops on floats in [0, 1], each sample taking its drawn op."""
        n = x.shape[0]
        magnitude = draws[:, _DRAW["magnitude"]].view(n, 1, 1, 1)
        is_op = {name: (ops == _OP[name]).view(n, 1, 1, 1) for name in TRIVIAL_OPS[6:]}

        # Brightness, colour, contrast and sharpness are all PIL's ImageEnhance blend
        # out = degenerate + f * (x - degenerate); one blend serves all four, with f = 1 (and the
        # input unchanged) for samples that drew another op.
        gray = (x * self._luma).sum(1, keepdim=True)
        blurred = _sharpness_degenerate(x, self._smooth)
        degenerate = torch.where(
            is_op["brightness"], 0.0,
            torch.where(
                is_op["color"], gray,
                torch.where(is_op["contrast"], gray.mean((2, 3), keepdim=True), blurred),
            ),
        )  # fmt: skip
        blends = is_op["brightness"] | is_op["color"] | is_op["contrast"] | is_op["sharpness"]
        factor = 1.0 + ENHANCE_MAX * _signed_magnitude(draws).view(n, 1, 1, 1)
        gain = torch.where(blends, factor - 1.0, 0.0)
        x = (x + gain * (x - degenerate)).clamp(0.0, 1.0)

        levels = torch.round(8 - (8 - POSTERIZE_MIN_BITS) * magnitude)
        step = torch.pow(2.0, 8 - levels)
        posterized = torch.floor(torch.round(x * 255.0) / step) * step / 255.0
        x = torch.where(is_op["posterize"], posterized, x)

        threshold = 1.0 - magnitude
        x = torch.where(is_op["solarize"] & (x >= threshold), 1.0 - x, x)

        low = x.amin((2, 3), keepdim=True)
        high = x.amax((2, 3), keepdim=True)
        span = high - low
        stretched = ((x - low) / torch.where(span > 0, span, 1.0)).clamp(0.0, 1.0)
        x = torch.where(is_op["autocontrast"] & (span > 0), stretched, x)

        return torch.where(is_op["equalize"], equalize(x), x)

    def _erase(self, x: torch.Tensor, draws: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Random erasing: with probability p, one box per sample filled with normal noise."""
        n, _, height, width = x.shape
        area = _between(draws[:, _DRAW["erase_area"]], *ERASE_AREA) * (height * width)
        log_ratios = (math.log(ERASE_RATIO[0]), math.log(ERASE_RATIO[1]))
        ratio = _between(draws[:, _DRAW["erase_ratio"]], *log_ratios).exp()
        box_h = (area * ratio).sqrt().round().clamp(1, height)
        box_w = (area / ratio).sqrt().round().clamp(1, width)
        top = (draws[:, _DRAW["erase_top"]] * (height - box_h + 1)).floor().view(n, 1, 1)
        left = (draws[:, _DRAW["erase_left"]] * (width - box_w + 1)).floor().view(n, 1, 1)
        rows = torch.arange(height, device=x.device).view(1, height, 1)
        cols = torch.arange(width, device=x.device).view(1, 1, width)
        inside = (
            (rows >= top) & (rows < top + box_h.view(n, 1, 1))
            & (cols >= left) & (cols < left + box_w.view(n, 1, 1))
        )  # fmt: skip
        chosen = (draws[:, _DRAW["erase"]] < self.config.erasing).view(n, 1, 1)
        return torch.where((inside & chosen).unsqueeze(1), noise, x)

    def _mix(self, x: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixup or CutMix of the batch with its reverse (timm's pairing), soft targets."""
        cfg, rng = self.config, self.host_rng
        if rng.random() >= cfg.mix_prob:
            return x, targets
        cutmix = cfg.cutmix_alpha > 0 and (cfg.mixup_alpha <= 0 or rng.random() < cfg.cutmix_share)
        if cutmix:
            lam = rng.betavariate(cfg.cutmix_alpha, cfg.cutmix_alpha)
            height, width = x.shape[-2:]
            cut = math.sqrt(1.0 - lam)
            cut_h, cut_w = int(height * cut), int(width * cut)
            cy, cx = rng.randrange(height), rng.randrange(width)
            y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
            x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
            x = x.clone()
            x[:, :, y0:y1, x0:x1] = x.flip(0)[:, :, y0:y1, x0:x1]
            lam = 1.0 - (y1 - y0) * (x1 - x0) / (height * width)
        else:
            lam = rng.betavariate(cfg.mixup_alpha, cfg.mixup_alpha)
            x = x.mul(lam).add_(x.flip(0), alpha=1.0 - lam)
        return x, targets.mul(lam).add_(targets.flip(0), alpha=1.0 - lam)


def _between(unit: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Uniform draws in [0, 1) mapped onto [low, high)."""
    return low + (high - low) * unit


def _signed_magnitude(draws: torch.Tensor) -> torch.Tensor:
    """TrivialAugment's magnitude in [0, 1) with a random sign (one pair per sample)."""
    sign = torch.where(draws[:, _DRAW["sign"]] < 0.5, -1.0, 1.0)
    return draws[:, _DRAW["magnitude"]] * sign


def _sharpness_degenerate(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """PIL's sharpness reference: the image smoothed inside, its one-pixel border unchanged."""
    inner = F.conv2d(x, kernel, groups=x.shape[1])
    return F.pad(inner, (1, 1, 1, 1)) + x * _border_mask(x)


def _border_mask(x: torch.Tensor) -> torch.Tensor:
    height, width = x.shape[-2:]
    rows = torch.arange(height, device=x.device).view(height, 1)
    cols = torch.arange(width, device=x.device).view(1, width)
    return ((rows == 0) | (rows == height - 1) | (cols == 0) | (cols == width - 1)).to(x.dtype)
