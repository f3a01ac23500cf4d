"""Where training batches come from: stored images (decoded once, augmented per sample) or
backbone features computed once (the frozen-backbone shortcut)."""
from __future__ import annotations

import time
from typing import Callable, Iterator

import torch

from core.data.cache import ImageSet
from core.data.transforms import Preprocess, normalize
from core.training import feature_cache
from core.training.device import autocast
from core.training.events import Cancelled, Emit
from core.training.feature_cache import FeatureCache


class ImageBatches:
    """Images through the whole model. A frozen trunk runs without autograd (no graph to keep)."""

    def __init__(self, images: ImageSet, pre: Preprocess, device: torch.device):
        self.images, self.pre, self.device = images, pre, device
        self.labels = images.labels()

    def __len__(self) -> int:
        return len(self.images)

    def iterate(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator:
        order = torch.randperm(len(self), generator=generator) if generator is not None else torch.arange(len(self))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size].tolist()
            x = torch.stack([self.images[i][0] for i in idx]).to(self.device, non_blocking=True)
            x = normalize(x, self.pre).contiguous(memory_format=torch.channels_last)
            yield x, self.labels[idx].to(self.device)

    def forward(self, model, x: torch.Tensor) -> torch.Tensor:
        if model.trunk_frozen():
            with torch.no_grad():
                feats = model.trunk(x)
            return model.head(feats.float())
        return model(x)


class FeatureBatches:
    """Cached backbone features (optionally K augmented views per image) through the head only."""

    def __init__(self, views: list[torch.Tensor], labels: torch.Tensor):
        self.views, self.labels, self.epoch = views, labels.to(views[0].device), 0

    def __len__(self) -> int:
        return len(self.labels)

    def iterate(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator:
        feats = self.views[self.epoch % len(self.views)]
        self.epoch += generator is not None  # a new augmented view each training epoch
        order = torch.randperm(len(self), generator=generator) if generator is not None else torch.arange(len(self))
        order = order.to(feats.device)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            yield feats[idx], self.labels[idx]

    def forward(self, model, x: torch.Tensor) -> torch.Tensor:
        return model.head(x)


def extract_features(model, source: ImageBatches, batch_size: int, emit: Emit, label: str,
                     should_stop: Callable[[], bool]) -> torch.Tensor:
    """Backbone features for every image, once, under inference_mode (bf16 autocast on CUDA)."""
    out, done, total = [], 0, len(source)
    last = 0.0
    model.trunk.eval()
    with torch.inference_mode(), autocast(source.device):
        for x, _ in source.iterate(batch_size):
            if should_stop():
                raise Cancelled()
            out.append(model.trunk(x).float())
            done += len(x)
            if time.monotonic() - last > 0.25 or done == total:
                emit({"event": "extract", "split": label, "done": done, "total": total})
                last = time.monotonic()
    if not out:
        return torch.empty(0, model.feature_dim, device=source.device)
    return torch.cat(out).clone()  # outside inference_mode: autograd may save it for the head


def extract_cached(source: ImageBatches, label: str, trunk: tuple, extract, emit: Emit,
                   cache: FeatureCache | None = None) -> torch.Tensor:
    """`extract(source, label)` for the images this process has not seen on this trunk yet; the rest
    come from the feature cache (a data-size sweep extracts its largest subset once)."""
    cache = cache or feature_cache.shared()
    shas = [r.sha256 for r in source.images.records]
    if not shas:
        return extract(source, label)
    known = cache.lookup(trunk, shas)
    missing = list({r.sha256: r for r in source.images.records if r.sha256 not in known}.values())
    if missing:
        fresh = ImageBatches(ImageSet(missing, source.pre, source.images.transform), source.pre, source.device)
        features = extract(fresh, label)
        cache.store(trunk, [r.sha256 for r in missing], features)
        known.update(zip((r.sha256 for r in missing), features))
    if len(missing) < len(shas):  # say how many came from the cache (a fresh extraction said it all)
        emit({"event": "extract", "split": label, "done": len(shas), "total": len(shas),
              "cached": len(shas) - len(missing)})
    return torch.stack([known[sha].to(source.device) for sha in shas])
