"""Benchmark (not a test): the training data path and fine-tuning against the synthetic limit, on this
machine's device, in one process so the ratios compare like with like.

usage: .venv/bin/python tools/data_path_bench.py [--per-class 20] [--batch 32] [--epochs 2] [--iters 8]
       prints one JSON object. Run it from a tree's root to measure that tree (e.g. an old commit
       exported with `git archive`), with PYTHONPATH=. so that tree's `core` is the one imported.

Per augmentation preset (`light`, `none`), fine-tuning EfficientNet-Lite0 (everything trainable, constant LR):
- `data_path_images_per_s`: images/s the engine's training batch source delivers to the device, no model,
  the decode cache warm (one pass first, then the timed pass) — the interfaces `tools/gpu/measure.py` uses;
- `engine_images_per_s`: the best training epoch of a real fit (train images / that epoch's train seconds);
- `limit_images_per_s`: fwd+bwd+step on random tensors already on the device (same model, batch,
  precision, channels_last); `fraction_of_limit` = engine / limit;
- `first_epoch_over_steady`: the first epoch's images/s over the best later epoch's.
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

import torch  # noqa: E402

from core.config import AugmentSpec, DataSpec, FreezePlan, RunConfig, TrainSpec  # noqa: E402
from core.data import augment, samples, splits  # noqa: E402
from core.data.cache import ImageSet  # noqa: E402
from core.models import registry  # noqa: E402
from core.models.transfer import build_model  # noqa: E402
from core.training.device import autocast, pick_device  # noqa: E402
from core.training.sources import ImageBatches  # noqa: E402
from core.training.trainer import Trainer  # noqa: E402


def config(preset: str, dataset: str, batch: int, epochs: int) -> RunConfig:
    return RunConfig(backbone="efficientnet_lite0", augment=AugmentSpec(preset=preset), data=DataSpec(dataset=dataset),
                     freeze=FreezePlan(mode="none"),
                     train=TrainSpec(head_epochs=0, finetune_epochs=epochs, finetune_lr=1e-4, batch_size=batch,
                                     schedule="constant"))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def data_path(cfg: RunConfig, device: torch.device) -> float:
    lists = splits.for_spec(cfg.data)
    pre = registry.get(cfg.backbone).preprocess()
    source = ImageBatches(ImageSet(lists.train, pre, augment.train_transform(cfg.augment, pre)), pre, device)
    for _ in source.iterate(cfg.train.batch_size, torch.Generator().manual_seed(0)):
        pass  # warm: decode cache (and whatever the source keeps on the device)
    sync(device)
    started, n = time.perf_counter(), 0
    for x, _ in source.iterate(cfg.train.batch_size, torch.Generator().manual_seed(1)):
        n += len(x)
    sync(device)
    return round(n / (time.perf_counter() - started), 1)


def limit(cfg: RunConfig, classes: int, device: torch.device, iters: int) -> float:
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
    started = time.perf_counter()
    for _ in range(iters):
        step()
    sync(device)
    return round(bs * iters / (time.perf_counter() - started), 1)


def fit(cfg: RunConfig) -> list[float]:
    events: list[dict] = []
    Trainer(cfg, emit=events.append).fit()
    n = len(splits.for_spec(cfg.data).train)
    return [round(n / e["train_seconds"], 1) for e in events if e["event"] == "epoch"]


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
        epochs = fit(cfg)
        row = {"engine_epoch_images_per_s": epochs, "engine_images_per_s": max(epochs[1:] or epochs),
               "data_path_images_per_s": data_path(cfg, device),
               "limit_images_per_s": limit(cfg, 10, device, a.iters)}
        row["fraction_of_limit"] = round(row["engine_images_per_s"] / row["limit_images_per_s"], 3)
        row["first_epoch_over_steady"] = round(epochs[0] / row["engine_images_per_s"], 3)
        out[preset] = row
    out["load_after"] = os.getloadavg()[0]
    return out


if __name__ == "__main__":
    print(json.dumps(main()))
