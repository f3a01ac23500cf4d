"""Augmentation: presets expanded into toggles, the batched per-sample transform training runs
(`batch_augment.BatchAugment`), and a preview of N views for the UI made by that same transform."""
from __future__ import annotations

import numpy as np
import torch

from core.config import AugmentSpec
from core.data.batch_augment import BatchAugment
from core.data.transforms import Preprocess, decode_square


def resolved(spec: AugmentSpec) -> AugmentSpec:
    """Presets expand into the individual toggles; 'custom' keeps them as set."""
    if spec.preset == "none":
        return AugmentSpec("custom", flip=False, rotation=0, random_resized_crop=False, color_jitter=0, grayscale=0)
    if spec.preset == "light":
        return AugmentSpec("custom", flip=True, rotation=0, random_resized_crop=True, color_jitter=0.1, grayscale=0)
    if spec.preset == "strong":
        return AugmentSpec("custom", flip=True, rotation=15, random_resized_crop=True, color_jitter=0.3, grayscale=0.1)
    return spec


def is_identity(spec: AugmentSpec) -> bool:
    s = resolved(spec)
    return not (s.flip or s.rotation or s.random_resized_crop or s.color_jitter or s.grayscale)


def train_transform(spec: AugmentSpec, pre: Preprocess) -> BatchAugment:
    """uint8 squares (n, 3, resize, resize) + a torch.Generator → float crops in [0, 1], every sample
    with its own random parameters, on the batch's device."""
    return BatchAugment(resolved(spec), pre.crop)


def preview(raw: bytes, spec: AugmentSpec, pre: Preprocess, n: int = 8, seed: int = 0) -> list[np.ndarray]:
    """N augmented views of one image (HWC uint8) for the UI: the training transform on a batch of N
    copies, drawn from a private generator (the Streamlit server is multi-threaded: the global RNG is
    never touched). On the CPU: the server never initialises CUDA."""
    base = decode_square(raw, pre.resize, pre.interpolation)
    views = train_transform(spec, pre)(base.expand(n, -1, -1, -1), torch.Generator().manual_seed(seed))
    return list(to_uint8(views).permute(0, 2, 3, 1).numpy())


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float [0, 1] images → uint8, rounded."""
    return x.mul(255).round_().to(torch.uint8)
