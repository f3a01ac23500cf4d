"""Turn images into the tensors a backbone expects, from the weights' own preprocessing."""
from __future__ import annotations

import torch
from PIL import Image
from torchvision.transforms import v2

from core.backbones import Preprocess


def eval_transform(pre: Preprocess) -> v2.Compose:
    """Resize the short side, center-crop, scale to [0, 1], normalise: as the weights were trained."""
    return v2.Compose([
        v2.PILToTensor(),
        v2.Resize(pre.resize, interpolation=v2.InterpolationMode(pre.interpolation), antialias=True),
        v2.CenterCrop(pre.crop),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(pre.mean, pre.std),
    ])


def batch(images: list[Image.Image], pre: Preprocess) -> torch.Tensor:
    transform = eval_transform(pre)
    return torch.stack([transform(img) for img in images])
