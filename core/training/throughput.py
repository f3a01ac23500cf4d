"""How close fine-tuning runs to what the device can do, for `python -m core bench`.

For one fine-tuning config (everything trainable), in this process, on its device:
- `limit_images_per_s`: the synthetic limit, fwd+bwd+step on random tensors already on the device, same
  model, batch size, precision (bf16 autocast on CUDA) and channels_last: no data path at all;
- `engine_epoch_images_per_s`: each epoch of a real fit, images trained / that epoch's train seconds
  (steps × batch: a topped-up last batch's repeats count, as the limit counts every image of its steps;
  `tools/gpu/measure.py` divides the split's image count instead, up to (batch − 1)/n lower: 14 % for
  140 images in batches of 32); `engine_images_per_s`: the best epoch after the first;
- `fraction_of_limit` = engine / limit;
- `data_path_images_per_s`: the training batch source alone (gathered, augmented, normalised, on the
  device), no model, after one warm pass (decode cache warm, images placed);
- `first_epoch_over_steady`: the first epoch's images/s over the steady one. It pays what the process
  has not done yet for this shape: decoding, placing the images, cuDNN autotuning; run first in a
  process, it is the fresh-worker figure.
"""
from __future__ import annotations

import time

import torch

from core.config import RunConfig
from core.data import augment, splits
from core.data.cache import ImageSet
from core.models import registry
from core.models.transfer import build_model
from core.training import batches
from core.training.batches import train_batch_size
from core.training.device import autocast, pick_device
from core.training.sources import ImageBatches
from core.training.trainer import Trainer

LIMIT_SECONDS, LIMIT_STEPS = 2.0, (3, 30)  # time the synthetic steps for 2 s, at least 3 and at most 30


def measure(config: RunConfig, limit: float | None = None) -> dict:
    """The figures above for `config` (its fine-tune epochs, ≥ 2 for a steady epoch); `limit` reuses a
    synthetic limit measured for the same model and batch."""
    device = pick_device(config.device)
    lists = splits.for_spec(config.data)
    trained = batches.steps_per_epoch(len(lists.train), config.train.batch_size) * \
        train_batch_size(len(lists.train), config.train.batch_size)
    epochs = engine_epochs(config, trained)
    steady = max(epochs[1:] or epochs)
    limit = limit or limit_images_per_s(config, len(lists.classes), train_batch_size(len(lists.train),
                                                                                      config.train.batch_size))
    return {"engine_epoch_images_per_s": epochs, "engine_images_per_s": steady, "limit_images_per_s": limit,
            "fraction_of_limit": round(steady / limit, 3) if limit else None,
            "data_path_images_per_s": data_path_images_per_s(config, lists.train, device),
            "first_epoch_over_steady": round(epochs[0] / steady, 3) if len(epochs) > 1 and steady else None,
            "batch_size": train_batch_size(len(lists.train), config.train.batch_size)}


def engine_epochs(config: RunConfig, images: int) -> list[float]:
    events: list[dict] = []
    Trainer(config, emit=events.append).fit()
    return [round(images / e["train_seconds"], 1) for e in events if e["event"] == "epoch" and e["train_seconds"]]


def data_path_images_per_s(config: RunConfig, records, device: torch.device) -> float | None:
    pre = registry.get(config.backbone).preprocess()
    source = ImageBatches(ImageSet(records, pre, augment.train_transform(config.augment, pre)), pre, device)
    if not len(source):
        return None
    for _ in source.iterate(config.train.batch_size, torch.Generator().manual_seed(0)):
        pass  # warm: decoded, placed
    _sync(device)
    started, n = time.perf_counter(), 0
    for x, _ in source.iterate(config.train.batch_size, torch.Generator().manual_seed(1)):
        n += len(x)
    _sync(device)
    return round(n / (time.perf_counter() - started), 1)


def limit_images_per_s(config: RunConfig, classes: int, batch: int) -> float:
    device = pick_device(config.device)
    model = build_model(config, classes).to(device, memory_format=torch.channels_last)
    model.set_frozen([])
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.train.finetune_lr)
    crop = registry.get(config.backbone).preprocess().crop
    x = torch.randn(batch, 3, crop, crop, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch,), device=device)

    def step() -> None:
        with autocast(device):
            logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    for _ in range(2):
        step()  # warm: autotuning, allocator
    _sync(device)
    started, done = time.perf_counter(), 0
    while done < LIMIT_STEPS[1] and (done < LIMIT_STEPS[0] or time.perf_counter() - started < LIMIT_SECONDS):
        step()
        done += 1
    _sync(device)
    return round(batch * done / (time.perf_counter() - started), 1)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
