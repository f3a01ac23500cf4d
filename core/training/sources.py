"""Where training batches come from: stored images (decoded once, kept on the training device,
augmented a whole batch at a time with per-sample parameters) or backbone features computed once (the
frozen-backbone shortcut). Batch order and shapes: `batches`."""
from __future__ import annotations

import time
from typing import Callable, Iterator

import torch

from core.data.cache import ImageSet
from core.data.transforms import Preprocess, center_crop, normalize, to_device
from core.training import batches, feature_cache
from core.training.device import autocast
from core.training.events import Cancelled, Emit
from core.training.feature_cache import FeatureCache


class ImageBatches:
    """Images through the whole model. A frozen trunk runs without autograd (no graph to keep).

    `iterate(b, generator)` gives training batches (shuffled, always full, augmented with the set's
    `augment` if it has one); `iterate(b)` gives batches in order, whose x may carry padding rows after
    the len(y) real ones (see `batches`): cut outputs to len(y). In-order batches are the evaluation view,
    or augmented views when the source was given a `view_generator` (cached augmented features)."""

    def __init__(self, images: ImageSet, pre: Preprocess, device: torch.device, pad_eval: bool | None = None,
                 view_generator: torch.Generator | None = None, placement: batches.Placement | None = None):
        self.images, self.pre, self.device = images, pre, device
        self.labels = images.labels()
        self.pad_eval = batches.pads_eval(device) if pad_eval is None else pad_eval
        self.view_generator = view_generator
        self._placement = placement or batches.Placement(images, device)
        self.sample_weights: torch.Tensor | None = None  # a balanced sampler's draw weights (`balance`)

    def __len__(self) -> int:
        return len(self.images)

    def with_augment(self, augment, view_generator: torch.Generator | None = None) -> "ImageBatches":
        """The same images (and their place on the device) with another augmentation."""
        return ImageBatches(ImageSet(self.images.records, self.pre, augment, self.images.cache), self.pre,
                            self.device, self.pad_eval, view_generator, self._placement)

    def placed(self) -> batches.Resident | batches.Streamed:
        return self._placement.get()

    def iterate(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator:
        if generator is None:
            return self._eval_batches(batch_size)
        return self._train_batches(batch_size, generator)

    def _train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator:
        placed, augment = self.placed(), self.images.augment
        plan = batches.train_plan(len(self), batch_size, generator, self.sample_weights)
        for squares, y in batches.one_ahead(placed.take(idx) for idx in plan):
            x = augment(squares, generator) if augment is not None else center_crop(squares, self.pre.crop)
            yield self._model_ready(x), y

    def _eval_batches(self, batch_size: int) -> Iterator:
        if not len(self):
            return
        placed = self.placed()
        augment, generator = self.images.augment, self.view_generator
        for (squares, y), count in batches.one_ahead(
                (placed.take(idx), count) for idx, count in batches.eval_plan(len(self), batch_size, self.pad_eval)):
            x = augment(squares, generator) if augment is not None and generator is not None else \
                center_crop(squares, self.pre.crop)
            yield self._model_ready(x), y[:count]

    def _model_ready(self, x: torch.Tensor) -> torch.Tensor:
        return normalize(x, self.pre).contiguous(memory_format=torch.channels_last)

    def forward(self, model, x: torch.Tensor) -> torch.Tensor:
        if model.trunk_frozen():
            with torch.no_grad():
                feats = model.trunk(x)
            return model.head(feats.float())
        return model(x)


class FeatureBatches:
    """Cached backbone features (optionally K augmented views per image) through the head only.
    Training batches are full, as for images (`batches.train_plan`); evaluation is not padded (the
    head's shapes tune nothing)."""

    def __init__(self, views: list[torch.Tensor], labels: torch.Tensor):
        self.views, self.labels, self.epoch = views, labels.to(views[0].device), 0
        self.sample_weights: torch.Tensor | None = None  # a balanced sampler's draw weights (`balance`)

    def __len__(self) -> int:
        return len(self.labels)

    def iterate(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator:
        feats = self.views[self.epoch % len(self.views)]
        self.epoch += generator is not None  # a new augmented view each training epoch
        if generator is None:
            plan = [idx for idx, _ in batches.eval_plan(len(self), batch_size, pad=False)]
        else:
            plan = batches.train_plan(len(self), batch_size, generator, self.sample_weights)
        for idx in plan:
            idx = to_device(idx, feats.device)
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
        for x, y in source.iterate(batch_size):
            if should_stop():
                raise Cancelled()
            out.append(model.trunk(x)[:len(y)].float())  # padding rows cut off
            done += len(y)
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
    if missing and len(missing) == len(shas):  # nothing known, no duplicates: the source itself, placed once
        features = extract(source, label)
        cache.store(trunk, shas, features)
        return features
    if missing:
        fresh = ImageBatches(ImageSet(missing, source.pre, source.images.augment, source.images.cache), source.pre,
                             source.device, source.pad_eval, source.view_generator)
        features = extract(fresh, label)
        cache.store(trunk, [r.sha256 for r in missing], features)
        known.update(zip((r.sha256 for r in missing), features, strict=True))
    if len(missing) < len(shas):  # say how many came from the cache (a fresh extraction said it all)
        emit({"event": "extract", "split": label, "done": len(shas), "total": len(shas),
              "cached": len(shas) - len(missing)})
    return torch.stack([known[sha].to(source.device) for sha in shas])
