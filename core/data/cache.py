"""Stored images as tensors: decoded once, cached, handed out as uint8 squares.

Each stored image is decoded once into a uint8 CHW square (`transforms.decode_square`). Those tensors
live in an LRU cache bounded in bytes (`TRANSFERLAB_CACHE_MB`, default 1024 MB: about 6,600 images
at 232 px). One image at a time (`ImageSet[i]`) is evaluation's centre crop; the training batch
source gathers whole batches of squares (`ImageSet.stack`) and augments them together, every sample
with its own random draw (`augment.train_transform`).

Bytes come from the data home's content store, unless the code running has said otherwise for its own
context (`reading_bytes_from`): a Ray task has no data home and reads them from the object store.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable

import torch
from torch.utils.data import Dataset

from core.data import store
from core.data.transforms import Preprocess, center_crop, decode_square

# Per context, not per process: a Streamlit thread reading the content store never sees a task's reader.
# Entries are keyed by content hash, so a tensor decoded from either source is the same tensor.
_bytes_reader: ContextVar[Callable[[str], bytes] | None] = ContextVar("image_bytes_reader", default=None)


@contextmanager
def reading_bytes_from(read: Callable[[str], bytes]):
    """Inside this block (this thread or task only), images missing from the cache are read with
    `read(sha)` instead of from the content store."""
    token = _bytes_reader.set(read)
    try:
        yield
    finally:
        _bytes_reader.reset(token)


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
        read = _bytes_reader.get() or store.read_bytes
        tensor = decode_square(read(sha), size, interpolation)
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
_shared_lock = threading.Lock()


def shared_cache() -> DecodedCache:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = DecodedCache(int(os.environ.get("TRANSFERLAB_CACHE_MB", "1024")) * 1024 * 1024)
        return _shared


class ImageSet(Dataset):
    """Stored images of one split as uint8 squares + labels, and the batch augmentation training gives
    them (`augment.train_transform`, or None: evaluation's centre crop)."""

    def __init__(self, records: list[store.ImageRecord], pre: Preprocess, augment=None,
                 cache: DecodedCache | None = None):
        self.records, self.pre, self.augment = records, pre, augment
        self.cache = cache or shared_cache()

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """One image as evaluation sees it (the uint8 centre crop) and its label."""
        return center_crop(self.square(index), self.pre.crop), self.records[index].label

    def square(self, index: int) -> torch.Tensor:
        record = self.records[index]
        return self.cache.get(record.sha256, self.pre.resize, self.pre.interpolation)

    def stack(self, indices: list[int], out: torch.Tensor | None = None) -> torch.Tensor:
        """The squares of `indices` as one uint8 (n, 3, resize, resize) tensor (into `out` if given)."""
        return torch.stack([self.square(i) for i in indices], out=out)

    def labels(self) -> torch.Tensor:
        """Class indices; for multi-label records, 0/1 per class as floats (what BCE-with-logits reads)."""
        if self.records and self.records[0].labels is not None:
            return torch.tensor([r.labels for r in self.records], dtype=torch.float32)
        return torch.tensor([r.label for r in self.records], dtype=torch.long)
