"""Augmentation: presets expanded into toggles, a v2 pipeline applied to one uint8 square at a time
(every sample gets its own random draw), and a preview of N views for the UI."""
from __future__ import annotations

import numpy as np
import torch
from torchvision.transforms import v2

from core.config import AugmentSpec
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


def train_transform(spec: AugmentSpec, pre: Preprocess) -> v2.Compose:
    """Applied to one sample at a time, so every sample gets its own random parameters."""
    s = resolved(spec)
    steps: list = []
    if s.random_resized_crop:
        steps.append(v2.RandomResizedCrop(pre.crop, scale=(0.5 if s.rotation else 0.6, 1.0), antialias=True))
    else:
        steps.append(v2.CenterCrop(pre.crop))
    if s.flip:
        steps.append(v2.RandomHorizontalFlip())
    if s.rotation:
        steps.append(v2.RandomRotation(s.rotation))
    if s.color_jitter:
        c = s.color_jitter
        steps.append(v2.ColorJitter(brightness=c, contrast=c, saturation=c, hue=min(0.5, c / 4)))
    if s.grayscale:
        steps.append(v2.RandomGrayscale(p=s.grayscale))
    return v2.Compose(steps)


def preview(raw: bytes, spec: AugmentSpec, pre: Preprocess, n: int = 8, seed: int = 0) -> list[np.ndarray]:
    """N augmented views of one image (HWC uint8) for the UI, from a private generator: the
    Streamlit server is multi-threaded, so the global RNG is never touched."""
    base = decode_square(raw, pre.resize, pre.interpolation)
    transform = train_transform(spec, pre)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        views = [transform(base) for _ in range(n)]
    return [v.permute(1, 2, 0).numpy() for v in views]
