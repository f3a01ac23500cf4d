"""Learning-rate finder (Smith 2015, as fastai's `lr_find`): train with an exponentially growing
learning rate, from `START` to `END` over `steps` batches, and read the loss curve.

- Phase "head": the new head on the frozen backbone. The backbone's features are computed once
  (`extract_features`), so the sweep itself costs almost nothing.
- Phase "finetune": the stages the FreezePlan opens (plus the head) on images, every group at the
  swept LR × its per-stage `lr_scale`, as the trainer would; the head first trains its phase-1 epochs
  on cached features, since that is where fine-tuning starts.

Only training images are used (at most `PER_CLASS` per class). The process-wide RNG is never seeded
(other threads of the server share it) and the result does not depend on it: batches are drawn with a
private `torch.Generator`, the head is re-initialised from it, and dropout / drop-path modules stay in
eval mode during the sweep (the sweep measures how the optimiser responds to the LR, not
regularisation). Only a randomly initialised backbone (weights "none") differs from sweep to sweep.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from core.config import RunConfig
from core.data.cache import ImageSet
from core.data.splits import Splits, for_spec, limit_per_class
from core.errors import UserError
from core.models import registry
from core.models.transfer import TransferModel, build_model, planned_frozen
from core.training import schedule, tasks
from core.training.device import pick_device
from core.training.sources import FeatureBatches, ImageBatches, extract_features

START, END = 1e-6, 1.0
STEPS = {"head": 100, "finetune": 50}  # a fine-tune step runs the opened stages backwards: fewer of them
PER_CLASS = {"head": 30, "finetune": 16}
FINETUNE_BATCH = 16  # backward through opened stages on a CPU: small batches keep a sweep to seconds
DIVERGE = 4.0  # stop once the smoothed loss is this many times its best
BETA = 0.9  # smoothing of the loss; fastai's 0.98 lags ~50 steps, half of a 100-step sweep
MIN_VALLEY = 5  # a falling run shorter than this is noise, not a valley
SKIP_START = 0.1  # the steepest descent is read from this share of the sweep on (fastai: num_it // 10)
PHASES = ("head", "finetune")
DROPOUTS = ("Dropout", "DropPath", "StochasticDepth")


def find(config: RunConfig, owner: str | None = None, phase: str = "head", device: str = "cpu",
         steps: int | None = None, splits: Splits | None = None) -> dict:
    """Sweep the LR for one phase of `config`; returns lrs, smoothed losses, the suggestion and the
    rule that picked it."""
    if phase not in PHASES:
        raise UserError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
    steps = steps or STEPS[phase]
    if steps < 3:
        raise UserError(f"steps: a sweep needs at least 3 batches to read a curve from, got {steps}")
    splits = splits or for_spec(config.data, owner, config.task)
    generator = torch.Generator().manual_seed(config.seed)
    model, source = _prepare(config, splits, phase, pick_device(device), generator)
    lrs, raw, smooth, stopped = _sweep(model, source, config, phase, steps, generator)
    index, rule, why = suggest(lrs, smooth)
    return {"lrs": lrs, "losses": smooth, "suggested": lrs[index], "rule": rule, "why": why, "phase": phase,
            "raw_losses": raw, "stopped": stopped, "images": len(source), "start": START, "end": END}


def _prepare(config: RunConfig, splits: Splits, phase: str, device: torch.device, generator):
    """The model (head re-drawn from `generator`) with this phase's stages open, and its batches."""
    model = build_model(config, len(splits.classes)).to(device)
    _reset_head(model.head, generator)
    pre = registry.get(config.backbone).preprocess()
    images = ImageBatches(ImageSet(limit_per_class(splits.train, PER_CLASS[phase]), pre), pre, device)
    if not len(images):
        raise UserError(f"dataset {config.data.dataset!r} has no training images")
    model.set_frozen(model.backbone_stages)
    features = FeatureBatches([extract_features(model, images, 16, lambda e: None, "train", lambda: False)],
                              images.labels)
    if phase == "head":
        return model, features
    if config.train.head_epochs:
        _warm_head(model, features, config, generator)
    model.set_frozen(planned_frozen(config.freeze, model.backbone_stages))
    return model, features if model.trunk_frozen() else images


def _reset_head(head: nn.Module, generator: torch.Generator) -> None:
    """nn.Linear's own initialisation, drawn from the private generator instead of the global one."""
    with torch.no_grad():
        for layer in head.modules():
            if isinstance(layer, nn.Linear):
                nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
                bound = 1 / math.sqrt(layer.in_features)
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)


def _warm_head(model: TransferModel, features: FeatureBatches, config: RunConfig, generator) -> None:
    """Phase 1 as the trainer runs it (head epochs at head_lr on cached features), so the fine-tune
    sweep starts from a trained head, not a random one."""
    train = config.train
    optimizer = schedule.optimizer(model.param_groups(train.head_lr, train.lr_factor), train)
    total = train.head_epochs * max(1, math.ceil(len(features) / train.batch_size))
    step = 0
    _train_mode(model)
    for _ in range(train.head_epochs):
        for x, y in features.iterate(train.batch_size, generator):
            schedule.apply(optimizer, train.head_lr, train.schedule, step / total)
            _step(model, features, optimizer, x, y, config)
            step += 1


def _train_mode(model: TransferModel) -> None:
    model.train()
    for module in model.modules():
        if any(kind in type(module).__name__ for kind in DROPOUTS):
            module.eval()  # they draw from the global RNG; see the module docstring


def _step(model, source, optimizer, x, y, config: RunConfig) -> float:
    loss = tasks.for_name(config.task).loss(source.forward(model, x).float(), y, {}, config.train)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.train.grad_clip:
        torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]],
                                       config.train.grad_clip)
    optimizer.step()
    return loss.item()


def _sweep(model, source, config: RunConfig, phase: str, steps: int, generator):
    """(lrs, raw losses, smoothed losses, why it stopped): one batch per LR, stopping early once the
    smoothed loss passes DIVERGE × its best or the loss is not finite."""
    train = config.train
    base = train.head_lr if phase == "head" else train.finetune_lr
    optimizer = schedule.optimizer(model.param_groups(base, train.lr_factor), train)
    batch = train.batch_size if phase == "head" else min(train.batch_size, FINETUNE_BATCH)
    lrs, raw, smooth, average, best = [], [], [], 0.0, math.inf
    _train_mode(model)
    for i, (x, y) in enumerate(_endless(source, batch, generator, steps)):
        lr = START * (END / START) ** (i / max(steps - 1, 1))
        for group in optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        loss = _step(model, source, optimizer, x, y, config)
        if not math.isfinite(loss):
            return lrs, raw, smooth, "diverged"
        average = BETA * average + (1 - BETA) * loss
        value = average / (1 - BETA ** (i + 1))  # bias correction: early values are not pulled to 0
        lrs.append(lr), raw.append(round(loss, 6)), smooth.append(round(value, 6))
        best = min(best, value)
        if i > 0 and value > DIVERGE * best:
            return lrs, raw, smooth, "diverged"
    return lrs, raw, smooth, "end"


def _endless(source, batch: int, generator, steps: int):
    """`steps` batches, passing over the data as often as it takes (a new order each pass)."""
    given = 0
    while given < steps:
        for x, y in source.iterate(batch, generator):
            yield x, y
            given += 1
            if given == steps:
                return


# ---- reading the curve -------------------------------------------------------------------------------
def suggest(lrs: list[float], losses: list[float]) -> tuple[int, str, str]:
    """(index, rule, why). The steepest descent of the smoothed loss first, read as fastai reads it:
    from SKIP_START of the sweep on (the first smoothed values average only a few batches) up to the
    curve's minimum. It trained best of the rules tried. Heads on cached EfficientNet-Lite0 features,
    12 epochs, validation accuracy, steepest / valley / minimum / the default 3e-3: MNIST 20 per class
    0.90 (8.7e-3) / 0.77 (4.0e-4) / 0.83 (1.2e-1) / 0.87; scikit-learn digits 40 per class 0.85
    (3.5e-2) / 0.72 (5.3e-4) / 0.83 (1.6e-1) / 0.77. The valley rule (the middle of the longest falling
    stretch) reaches back into the flat start of the curve, where the smoothed loss drifts down by
    noise, and lands a decade or more too low. It stays as the fallback for a curve that never falls in
    one place; a curve that never falls at all gets the LR of its lowest loss. A curve that hardly falls
    is read no better by any rule: on random ResNet-18 features the smoothed loss went from 2.42 to 2.40
    at its lowest before diverging (MNIST 30 per class), and on MNIST 20 per class steepest (2.5e-5),
    valley and minimum trained to 0.10, 0.10 and 0.13 where 3e-3 reached 0.33."""
    if len(losses) < 3:
        raise UserError("the loss diverged within the first steps of the sweep: no learning rate to suggest; "
                        "check the data (labels, images) and try again")
    start = min(int(len(losses) * SKIP_START), len(losses) - 3)
    lowest = start + int(np.argmin(losses[start:]))
    steepest, slope = steepest_index(lrs[start:lowest + 1], losses[start:lowest + 1])
    if slope < 0:
        return start + steepest, "steepest", "where the smoothed loss falls fastest per decade of learning rate"
    valley = valley_index(losses)
    if valley is not None:
        return valley, "valley", "the middle of the longest stretch where the smoothed loss keeps falling"
    return lowest, "minimum", "the loss never fell clearly: the learning rate of its lowest value"


def valley_index(losses: list[float]) -> int | None:
    """fastai's valley: the middle of the longest decreasing subsequence, or None when it is shorter
    than MIN_VALLEY points."""
    n = len(losses)
    length, before = [1] * n, [-1] * n
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and length[j] + 1 > length[i]:
                length[i], before[i] = length[j] + 1, j
    end = int(np.argmax(length))
    if length[end] < MIN_VALLEY:
        return None
    start = end
    while before[start] != -1:
        start = before[start]
    return start + (end - start) // 2


def steepest_index(lrs: list[float], losses: list[float]) -> tuple[int, float]:
    """(index, slope) of the most negative slope of the loss against log(LR)."""
    if len(losses) < 2:
        return 0, 0.0
    slopes = np.gradient(np.asarray(losses), np.log(np.asarray(lrs)))
    index = int(np.argmin(slopes))
    return index, float(slopes[index])
