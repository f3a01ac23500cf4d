"""Benchmark (not a test): the training data path and fine-tuning against the synthetic limit, on this
machine's device, in one process so the ratios compare like with like.

usage: .venv/bin/python tools/data_path_bench.py [--per-class 20] [--batch 32] [--epochs 2] [--iters 8]
       prints one JSON object. Run it from a tree's root to measure that tree (e.g. an old commit
       exported with `git archive`), with PYTHONPATH=. so that tree's `core` is the one imported.

Per augmentation preset (`light`, `none`), fine-tuning EfficientNet-Lite0 (everything trainable, constant LR):
- `data_path_images_per_s`: images/s the engine's training batch source delivers to the device, no model,
  the decode cache warm (one pass first, then the timed pass) — the interfaces `tools/gpu/measure.py` uses;
- `engine_images_per_s`: the best training epoch of a real fit (images trained in an epoch, counted at the
  steps, / that epoch's train seconds: a topped-up last batch counts what it trains, as the limit does);
- `limit_images_per_s`: fwd+bwd+step on random tensors already on the device (same model, batch,
  precision, channels_last); `fraction_of_limit` = engine / limit;
- `first_epoch_over_steady`: the first epoch's images/s over the best later epoch's.
On a machine other jobs share, totals swing with their load; the `best_*` figures are the fastest
single iteration of each (a training step from one step's start to the next one's, so the batch
preparation is inside; a synthetic step; a batch of the data path), which other jobs can only slow down:
`best_fraction_of_limit` is the ratio to read there.
A fresh data home in a temporary folder; MNIST from the bundled sample.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())  # measure the tree we are run from
os.environ.setdefault("TRANSFERLAB_HOME", tempfile.mkdtemp(prefix="tl-bench-"))
os.environ.setdefault("TRANSFERLAB_OFFLINE", "1")

import torch

from core.config import AugmentSpec, DataSpec, FreezePlan, RunConfig, TrainSpec
from core.data import augment, samples, splits
from core.data.cache import ImageSet
from core.models import registry
from core.models.transfer import build_model
from core.training.device import autocast, pick_device
from core.training.sources import ImageBatches
from core.training.trainer import Trainer


def config(preset: str, dataset: str, batch: int, epochs: int) -> RunConfig:
    return RunConfig(backbone="efficientnet_lite0", augment=AugmentSpec(preset=preset), data=DataSpec(dataset=dataset),
                     freeze=FreezePlan(mode="none"),
                     train=TrainSpec(head_epochs=0, finetune_epochs=epochs, finetune_lr=1e-4, batch_size=batch,
                                     schedule="constant"))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def data_path(cfg: RunConfig, device: torch.device) -> tuple[float, float]:
    """(images/s over a whole pass, images/s of the fastest batch)."""
    lists = splits.for_spec(cfg.data)
    pre = registry.get(cfg.backbone).preprocess()
    source = ImageBatches(ImageSet(lists.train, pre, augment.train_transform(cfg.augment, pre)), pre, device)
    for _ in source.iterate(cfg.train.batch_size, torch.Generator().manual_seed(0)):
        pass  # warm: decode cache (and whatever the source keeps on the device)
    sync(device)
    started, n, best = time.perf_counter(), 0, 0.0
    for seed in (1, 2, 3):
        last = time.perf_counter()
        for x, _ in source.iterate(cfg.train.batch_size, torch.Generator().manual_seed(seed)):
            sync(device)
            now = time.perf_counter()
            n, best, last = n + len(x), max(best, len(x) / (now - last)), now
    return round(n / (time.perf_counter() - started), 1), round(best, 1)


def limit(cfg: RunConfig, classes: int, device: torch.device, iters: int) -> tuple[float, float]:
    """(images/s over `iters` synthetic steps, images/s of the fastest one)."""
    model = build_model(cfg, classes).to(device, memory_format=torch.channels_last)
    model.set_frozen([])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    crop, bs = registry.get(cfg.backbone).preprocess().crop, cfg.train.batch_size
    x = torch.randn(bs, 3, crop, crop, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (bs,), device=device)
    model.train()

    def step():
        with autocast(device):
            logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    step()
    sync(device)
    started, fastest = time.perf_counter(), float("inf")
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        sync(device)
        fastest = min(fastest, time.perf_counter() - t0)
    return round(bs * iters / (time.perf_counter() - started), 1), round(bs / fastest, 1)


def fit(cfg: RunConfig) -> tuple[list[float], float]:
    """(images/s per epoch, images/s of the fastest training iteration: from one step's start to the next,
    so the next batch's preparation is inside; the step's own images over that time)."""
    events: list[dict] = []
    stamps: list[tuple[float, int]] = []
    step = Trainer._step

    def timed(self, optimizer, source, x, y, *rest):
        stamps.append((time.perf_counter(), len(y)))
        return step(self, optimizer, source, x, y, *rest)
    Trainer._step = timed
    try:
        Trainer(cfg, emit=events.append).fit()
    finally:
        Trainer._step = step
    epochs = [e for e in events if e["event"] == "epoch"]
    n = sum(images for _, images in stamps) / len(epochs)  # images trained per epoch
    best = max(images / (t1 - t0) for (t0, images), (t1, _) in zip(stamps, stamps[1:]))
    return [round(n / e["train_seconds"], 1) for e in epochs], round(best, 1)


def main() -> dict:
    p = argparse.ArgumentParser()
    p.add_argument("--per-class", type=int, default=20)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--iters", type=int, default=8)
    a = p.parse_args()
    device = pick_device("auto")
    samples.materialize("mnist", "dp", per_class=a.per_class)
    out: dict = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
                 "load_before": os.getloadavg()[0], "per_class": a.per_class, "batch": a.batch}
    for preset in ("light", "none"):
        cfg = config(preset, "dp", a.batch, a.epochs)
        epochs, best_engine = fit(cfg)
        (path, best_path), (lim, best_lim) = data_path(cfg, device), limit(cfg, 10, device, a.iters)
        row = {"engine_epoch_images_per_s": epochs, "engine_images_per_s": max(epochs[1:] or epochs),
               "data_path_images_per_s": path, "limit_images_per_s": lim}
        row["fraction_of_limit"] = round(row["engine_images_per_s"] / row["limit_images_per_s"], 3)
        row["first_epoch_over_steady"] = round(epochs[0] / row["engine_images_per_s"], 3)
        row.update(best_engine_images_per_s=best_engine, best_limit_images_per_s=best_lim,
                   best_data_path_images_per_s=best_path, best_fraction_of_limit=round(best_engine / best_lim, 3))
        out[preset] = row
    out["load_after"] = os.getloadavg()[0]
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
