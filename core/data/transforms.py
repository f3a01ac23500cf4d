"""Images into the tensors a backbone expects, as its weights were trained: one path for training,
evaluation, predictions, Grad-CAM and export.

A picture is made square once (short side resized to the weights' resize size, centre square), kept
as uint8; evaluation centre-crops it to the crop size (`center_crop`, a slice of one image or of a
whole batch); `normalize` scales with the weights' own mean and std. `model_input` chains the three
for PIL pictures; the decoded cache stores the square and the batch sources crop and normalise it, so
both routes give identical tensors.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2

from core.data.images import decode


@dataclass(frozen=True)
class Preprocess:
    """What the weights expect: resize the short side, center-crop, normalise."""

    resize: int
    crop: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "Preprocess":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def square(picture: Image.Image, size: int, interpolation: str = "bilinear") -> torch.Tensor:
    """RGB picture → short side `size` → centre square `size`×`size`, uint8 CHW."""
    tensor = torch.from_numpy(np.asarray(picture.convert("RGB"), dtype=np.uint8).copy()).permute(2, 0, 1)
    mode = v2.InterpolationMode(interpolation)
    tensor = v2.functional.resize(tensor, size, interpolation=mode, antialias=True)
    return v2.functional.center_crop(tensor, [size, size]).contiguous()


def decode_square(raw: bytes, size: int, interpolation: str = "bilinear") -> torch.Tensor:
    return square(decode(raw), size, interpolation)


def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """The centre `size`×`size` of (…, H, W): one image or a whole batch, a view, offsets rounded as
    torchvision's center_crop rounds them."""
    top, left = int(round((images.shape[-2] - size) / 2)), int(round((images.shape[-1] - size) / 2))
    return images[..., top:top + size, left:left + size]


def eval_crop(pre: Preprocess):
    """The evaluation view of a square (or a batch of squares): its centre at the crop size."""
    return lambda images: center_crop(images, pre.crop)


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A small host tensor onto `device` without making the host wait for the device: to CUDA through
    pinned memory with `non_blocking` (a copy from pageable memory may wait for the stream)."""
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def normalize(batch: torch.Tensor, pre: Preprocess) -> torch.Tensor:
    """NCHW → float normalised with the weights' own statistics: uint8 is scaled by 1/255 first, a
    float batch is taken to be in [0, 1] already (what augmentation gives)."""
    mean = to_device(torch.tensor(pre.mean).view(1, 3, 1, 1), batch.device)
    std = to_device(torch.tensor(pre.std).view(1, 3, 1, 1), batch.device)
    unit = batch.float() / 255.0 if batch.dtype == torch.uint8 else batch
    return (unit - mean) / std


def eval_uint8(pictures: list[Image.Image], pre: Preprocess) -> torch.Tensor:
    """PIL pictures as the uint8 crops the model sees (N, 3, crop, crop)."""
    crop = eval_crop(pre)
    return torch.stack([crop(square(p, pre.resize, pre.interpolation)) for p in pictures])


def model_input(pictures: list[Image.Image], pre: Preprocess) -> torch.Tensor:
    """PIL pictures → the normalised batch a model takes: the one eval transform."""
    return normalize(eval_uint8(pictures, pre), pre)
