"""Images as tensors: decoded once, cached, augmented per sample.

Each stored image is decoded once into a uint8 CHW tensor: short side resized to the backbone's
resize size, centre-cropped square. Those tensors live in an LRU cache bounded in bytes
(`TRANSFERLAB_CACHE_MB`, default 1024 MB: about 6,600 images at 232 px). Evaluation centre-crops
to the crop size; training augments each sample with its own random draw (torchvision.transforms.v2).
Normalisation uses the backbone's own mean/std.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from core import data, images
from core.backbones import Preprocess
from core.config import AugmentSpec


class DecodedCache:
    """LRU of decoded uint8 tensors keyed by (content hash, size, interpolation); bounded by bytes."""

    def __init__(self, max_bytes: int):
        self.max_bytes, self.bytes = max_bytes, 0
        self._items: OrderedDict[tuple[str, int, str], torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, sha: str, size: int, interpolation: str = "bilinear") -> torch.Tensor:
        key = (sha, size, interpolation)  # bilinear and bicubic resizes differ: never mix them
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        tensor = decode_square(data.read_bytes(sha), size, interpolation)
        with self._lock:
            self.misses += 1
            if key not in self._items:
                self._items[key] = tensor
                self.bytes += tensor.numel()
                self._evict()
        return tensor

    def _evict(self) -> None:
        while self.bytes > self.max_bytes and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self.bytes -= old.numel()

    def __len__(self) -> int:
        return len(self._items)


_shared: DecodedCache | None = None


def shared_cache() -> DecodedCache:
    global _shared
    if _shared is None:
        _shared = DecodedCache(int(os.environ.get("TRANSFERLAB_CACHE_MB", "1024")) * 1024 * 1024)
    return _shared


def decode_square(raw: bytes, size: int, interpolation: str = "bilinear") -> torch.Tensor:
    """Bytes → RGB → short side `size` → centre square `size`×`size`, uint8 CHW."""
    picture = images.decode(raw)
    tensor = torch.from_numpy(np.asarray(picture, dtype=np.uint8).copy()).permute(2, 0, 1)
    mode = v2.InterpolationMode(interpolation)
    tensor = v2.functional.resize(tensor, size, interpolation=mode, antialias=True)
    return v2.functional.center_crop(tensor, [size, size]).contiguous()


# ---- augmentation --------------------------------------------------------------------------------
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


def eval_transform(pre: Preprocess) -> v2.Compose:
    return v2.Compose([v2.CenterCrop(pre.crop)])


def normalize(batch: torch.Tensor, pre: Preprocess) -> torch.Tensor:
    """uint8 NCHW → float, scaled and normalised with the weights' own statistics."""
    mean = torch.tensor(pre.mean, device=batch.device).view(1, 3, 1, 1)
    std = torch.tensor(pre.std, device=batch.device).view(1, 3, 1, 1)
    return (batch.float() / 255.0 - mean) / std


def preview(raw: bytes, spec: AugmentSpec, pre: Preprocess, n: int = 8, seed: int = 0) -> list[np.ndarray]:
    """N augmented views of one image (HWC uint8) for the UI."""
    base = decode_square(raw, pre.resize, pre.interpolation)
    transform = train_transform(spec, pre)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        views = [transform(base) for _ in range(n)]
    finally:
        torch.random.set_rng_state(state)
    return [v.permute(1, 2, 0).numpy() for v in views]


class ImageSet(Dataset):
    """Stored images of one split as uint8 CHW tensors + labels; augmentation per sample."""

    def __init__(self, records: list[data.ImageRecord], pre: Preprocess, transform=None,
                 cache: DecodedCache | None = None):
        self.records, self.pre = records, pre
        self.transform = transform or eval_transform(pre)
        self.cache = cache or shared_cache()

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        record = self.records[index]
        square = self.cache.get(record.sha256, self.pre.resize, self.pre.interpolation)
        return self.transform(square), record.label

    def labels(self) -> torch.Tensor:
        return torch.tensor([r.label for r in self.records], dtype=torch.long)
