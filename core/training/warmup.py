"""A worker slot's warm-up, before its first job: what the first job would otherwise pay for.

The backbone's pretrained weights are read into the process's `pretrained_cache` (every job on that
backbone then copies them from memory). On CUDA the slot also makes its CUDA context, cuBLAS workspaces
and cuDNN's plans: one training step (forward and backward with every stage open, bf16, channels_last:
the trainer's own settings) at the training batch shape, and one inference pass at the evaluation and
extraction shape (twice the batch: `batches`, `trainer`), so the first job's steps run at the steady
rate. A job with frozen stages needs a subset of those plans (no weight gradients there). On the CPU
there are no plans to make: weights only, which is cheap.
"""
from __future__ import annotations

import torch

from core.config import RunConfig
from core.models import registry
from core.models.transfer import build_model
from core.training.device import autocast, configure, pick_device


def warm_up(config: RunConfig) -> dict:
    """Warm this process for jobs like `config` (its backbone, weights, batch size, device)."""
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    model = build_model(config, num_classes=2)  # reads the trunk into the cache
    if device.type == "cuda":
        _tune(model, config, device)
    del model
    return {"backbone": config.backbone, "device": device.type, "batch_size": config.train.batch_size}


def _tune(model, config: RunConfig, device: torch.device) -> None:
    configure(device)
    model = model.to(device, memory_format=torch.channels_last)
    model.set_frozen([])
    crop, batch = registry.get(config.backbone).preprocess().crop, config.train.batch_size
    images = lambda n: torch.randn(n, 3, crop, crop, device=device).contiguous(memory_format=torch.channels_last)
    model.train()
    with autocast(device):
        logits = model(images(batch))
    logits.float().sum().backward()
    model.eval()
    with torch.inference_mode(), autocast(device):
        model(images(batch * 2))
    torch.cuda.synchronize(device)
