"""Backbone features per image, kept across runs in this process.

A frozen pretrained trunk maps an image to the same feature vector in every run that uses the same
backbone, weights, pooling and preprocessing. Runs that share images (a data-size sweep's nested
subsets, a class training on one published dataset, companions) therefore extract each image once
per worker slot. Only exact, deterministic views are cached: no augmentation, never a trunk that a
run has changed (a resumed or `run:ID` model is keyed by its own backbone name and weights).
Bounded in bytes (`TRANSFERLAB_FEATURE_CACHE_MB`, default 256: about 50,000 EfficientNet-Lite0 vectors).
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict

import torch

from core.config import RunConfig
from core.data.transforms import Preprocess


def trunk_key(config: RunConfig, pre: Preprocess, device: torch.device) -> tuple:
    """What a feature vector depends on besides the image (bf16 autocast on CUDA changes the values)."""
    return config.backbone, config.weights, config.head.pool, tuple(sorted(pre.to_dict().items())), device.type


class FeatureCache:
    def __init__(self, max_bytes: int):
        self.max_bytes, self.bytes = max_bytes, 0
        self._items: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def lookup(self, trunk: tuple, shas: list[str]) -> dict[str, torch.Tensor]:
        found = {}
        with self._lock:
            for sha in shas:
                vector = self._items.get((trunk, sha))
                if vector is not None:
                    self._items.move_to_end((trunk, sha))
                    found[sha] = vector
            self.hits += len(found)
            self.misses += len(set(shas)) - len(found)
        return found

    def store(self, trunk: tuple, shas: list[str], features: torch.Tensor) -> None:
        rows = features.detach().to("cpu", torch.float32)
        with self._lock:
            for sha, row in zip(shas, rows):
                key = (trunk, sha)
                if key in self._items:
                    continue
                self._items[key] = row.clone()  # a row of the batch would keep the whole batch alive
                self.bytes += row.numel() * 4
            while self.bytes > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self.bytes -= dropped.numel() * 4

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)


_shared: FeatureCache | None = None
_shared_lock = threading.Lock()


def shared() -> FeatureCache:
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = FeatureCache(int(os.environ.get("TRANSFERLAB_FEATURE_CACHE_MB", "256")) * 1024 * 1024)
        return _shared
