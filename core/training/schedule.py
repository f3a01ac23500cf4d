"""Optimizers and learning-rate schedules: every parameter group scaled by one schedule factor."""
from __future__ import annotations

import math

import torch

from core.config import TrainSpec


def lr_multiplier(schedule: str, fraction: float) -> float:
    """The schedule's factor at `fraction` (0..1) of a phase; applied to every group's scaled LR."""
    fraction = min(max(fraction, 0.0), 1.0)
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * fraction))
    warm = 0.3  # one-cycle: linear warm-up, then cosine annealing
    if fraction < warm:
        return 0.04 + 0.96 * fraction / warm
    return 0.001 + 0.999 * 0.5 * (1 + math.cos(math.pi * (fraction - warm) / (1 - warm)))


def optimizer(groups: list[dict], train: TrainSpec) -> torch.optim.Optimizer:
    """Built only from the groups given (parameters that require grad)."""
    if train.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=groups[0]["lr"], momentum=0.9, weight_decay=train.weight_decay)
    return torch.optim.AdamW(groups, lr=groups[0]["lr"], weight_decay=train.weight_decay)


def apply(optimizer: torch.optim.Optimizer, base_lr: float, schedule: str, fraction: float) -> None:
    scale = lr_multiplier(schedule, fraction)
    for group in optimizer.param_groups:
        group["lr"] = base_lr * group.get("lr_scale", 1.0) * scale
