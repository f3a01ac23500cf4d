"""Augmentation of a whole batch at once, every sample with its own random parameters, on whatever
device the batch lives (CUDA or CPU): the training path and the Layers & head preview both run it.

Geometry (random-resized-crop, horizontal flip, rotation) is one affine map per image, sampled with
`F.affine_grid` + `F.grid_sample` (bilinear; the corners a rotation uncovers are black, as torchvision's
RandomRotation leaves them). No antialiasing is needed: a crop's sides lie between 0.61 and 1 of the
square's (area ≥ half, aspect 3/4 to 4/3), so resizing it to the crop size shrinks it by at most the
square/crop ratio (256/224 = 1.14×); mostly it enlarges. Without crop or rotation the batch is
centre-cropped by slicing and flipped per sample, exactly. Colour jitter (brightness, contrast, saturation, then hue as a
turn of the YIQ chroma plane: one 3×3 matrix per image) and grayscale are per-image arithmetic with
per-sample factors. The order is fixed (torchvision draws a random order per image).

Chosen over kornia 0.9 (`kornia.augmentation`, same toggles, `same_on_batch=False`) by measuring on the
development CPU (2 cores shared with other jobs, load 1.5; `tools/augment_bench.py`, batch 32 of 256 px
squares → 224 px, fastest batch of 12, best of 2 runs), images/s: `light` 857 here, 259 kornia, 354
torchvision v2 per sample; `strong` 530 here, 263 kornia, 281 v2 (under load 3.7-5.2 the order was the
same: light 810 / 332 / 384).
kornia would also add a dependency that needs torch ≥ 2.5.1 (this project supports ≥ 2.4). The GPU
figure awaits a GPU (the same script runs there).

Randomness comes only from the torch.Generator passed in (drawn on the CPU, so the same seed gives the
same batch on any device); the global RNG is never touched (the Streamlit server is multi-threaded).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.config import AugmentSpec
from core.data.transforms import center_crop, to_device

GRAY = (0.2989, 0.587, 0.114)  # ITU-R 601 luma, as torchvision's rgb_to_grayscale
RATIO = (3 / 4, 4 / 3)  # crop aspect ratios, as torchvision's RandomResizedCrop
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64)


@dataclass(frozen=True)
class Draw:
    """One batch's random parameters, one row per sample (CPU tensors)."""

    boxes: torch.Tensor  # (n, 4): crop centre x, y and half width, height in normalised [-1, 1] coordinates
    angles: torch.Tensor  # (n,) radians
    flips: torch.Tensor  # (n,) bool
    colour: torch.Tensor  # (n, 4): brightness, contrast, saturation factors; hue turn in turns
    gray: torch.Tensor  # (n,) bool


class BatchAugment:
    """uint8 squares (n, 3, S, S) → float crops (n, 3, crop, crop) in [0, 1], per-sample random."""

    def __init__(self, spec: AugmentSpec, crop: int):
        self.spec, self.crop = spec, crop  # spec already resolved into toggles (augment.resolved)
        self.geometric = bool(spec.random_resized_crop or spec.rotation)

    def __call__(self, squares: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return self.apply(squares, self.draw(len(squares), squares.shape[-1], generator))

    # ---- the random parameters ------------------------------------------------------------------
    def draw(self, n: int, size: int, generator: torch.Generator) -> Draw:
        s = self.spec
        uniform = lambda *shape: torch.rand(*shape, generator=generator)
        boxes = self._crops(n, uniform) if s.random_resized_crop else \
            torch.tensor([0.0, 0.0, self.crop / size, self.crop / size]).repeat(n, 1)
        angles = (2 * uniform(n) - 1) * math.radians(s.rotation) if s.rotation else torch.zeros(n)
        flips = uniform(n) < 0.5 if s.flip else torch.zeros(n, dtype=torch.bool)
        colour = torch.tensor([1.0, 1.0, 1.0, 0.0]).repeat(n, 1)
        if s.color_jitter:
            spread = torch.tensor([s.color_jitter] * 3 + [min(0.5, s.color_jitter / 4)])
            colour = colour + spread * (2 * uniform(n, 4) - 1)
        gray = uniform(n) < s.grayscale if s.grayscale else torch.zeros(n, dtype=torch.bool)
        return Draw(boxes, angles, flips, colour, gray)

    def _crops(self, n: int, uniform) -> torch.Tensor:
        """Area fraction in [0.6, 1] ([0.5, 1] with rotation, as before), log-uniform aspect ratio; a box
        wider or taller than the square is cut to it (torchvision retries instead)."""
        low = 0.5 if self.spec.rotation else 0.6
        area = low + (1 - low) * uniform(n)
        ratio = torch.exp(math.log(RATIO[0]) + math.log(RATIO[1] / RATIO[0]) * uniform(n))
        w, h = (area * ratio).sqrt().clamp(max=1.0), (area / ratio).sqrt().clamp(max=1.0)
        cx, cy = (1 - w) * (2 * uniform(n) - 1), (1 - h) * (2 * uniform(n) - 1)
        return torch.stack([cx, cy, w, h], 1)

    # ---- applying them --------------------------------------------------------------------------
    def apply(self, squares: torch.Tensor, draw: Draw) -> torch.Tensor:
        device = squares.device
        if self.geometric:
            x = self._warp(squares.float().div_(255), draw, device)
        else:
            x = center_crop(squares, self.crop).float().div_(255)
            if self.spec.flip:
                x = torch.where(to_device(draw.flips, device).view(-1, 1, 1, 1), x.flip(-1), x)
        if self.spec.color_jitter:
            x = jitter(x, to_device(draw.colour[:, :3], device), to_device(hue_matrices(draw.colour[:, 3]), device))
        if self.spec.grayscale:
            x = torch.where(to_device(draw.gray, device).view(-1, 1, 1, 1), luma(x).expand_as(x), x)
        return x.contiguous()

    def _warp(self, x: torch.Tensor, draw: Draw, device: torch.device) -> torch.Tensor:
        grid = F.affine_grid(to_device(theta(draw), device), [len(x), 3, self.crop, self.crop], align_corners=False)
        # A crop enlarged to the output samples up to half a pixel beyond the square's edge: "border"
        # repeats the edge there (zeros would darken the outer row). With rotation the uncovered corners
        # are black, as torchvision's RandomRotation leaves them.
        padding = "zeros" if self.spec.rotation else "border"
        return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=False)


def theta(draw: Draw) -> torch.Tensor:
    """(n, 2, 3) maps from output to input coordinates: input = centre + scale · rotate · flip · output.
    Rotating in output coordinates turns the resized crop, as RandomRotation after the crop did."""
    cx, cy, w, h = draw.boxes.unbind(1)
    cos, sin = draw.angles.cos(), draw.angles.sin()
    f = 1.0 - 2.0 * draw.flips.float()
    return torch.stack([torch.stack([w * f * cos, -w * sin, cx], 1),
                        torch.stack([h * f * sin, h * cos, cy], 1)], 1)


def luma(x: torch.Tensor) -> torch.Tensor:
    """(n, 3, H, W) → (n, 1, H, W) grayscale."""
    r, g, b = x.unbind(1)
    return (GRAY[0] * r + GRAY[1] * g + GRAY[2] * b).unsqueeze(1)


def jitter(x: torch.Tensor, factors: torch.Tensor, hue: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast, saturation (blends as torchvision's), then hue, each clamped to [0, 1]."""
    b, c, s = (factors[:, i].view(-1, 1, 1, 1) for i in range(3))
    x = (x * b).clamp_(0, 1)
    mean = luma(x).mean((-2, -1), keepdim=True)
    x = (x * c + mean * (1 - c)).clamp_(0, 1)
    x = (x * s + luma(x) * (1 - s)).clamp_(0, 1)
    n, _, height, width = x.shape
    return torch.bmm(hue, x.reshape(n, 3, height * width)).view(n, 3, height, width).clamp_(0, 1)


def hue_matrices(turns: torch.Tensor) -> torch.Tensor:
    """(n, 3, 3): rotate each image's chroma (I, Q of YIQ) by its own angle, luma kept. One matrix
    product per image: cheaper than torchvision's RGB→HSV→RGB round trip, and close to it for the
    small turns the presets use (at most 0.075 of a circle, `strong`)."""
    angle = 2 * math.pi * turns.double()
    rot = torch.zeros(len(turns), 3, 3, dtype=torch.float64)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = angle.cos(), -angle.sin(), angle.sin(), angle.cos()
    return (torch.linalg.inv(_YIQ) @ rot @ _YIQ).float()
