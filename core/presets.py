"""From a scenario to a runnable RunConfig, and which backbones to suggest for it."""
from __future__ import annotations

import dataclasses

from core.config import AugmentSpec, FreezePlan, RunConfig
from core.errors import ConfigError
from core.scenarios import SCENARIOS, s2_frozen_stages

# Fine-tuning pretrained stages with BatchNorm in train mode lets small, unlike batches rewrite the
# ImageNet statistics: measured on 120 MNIST digits (S2, Lite0) train accuracy fell from 0.96 to 0.25
# at the switch to fine-tuning; with every BatchNorm kept in eval mode it stayed at 0.90+.
SMALL_DATA_BN = "all_eval"
USABLE_WEIGHTS = ("bundled", "cached", "download", "trained")  # usable right now
RECOMMEND_MAX_PARAMS = {"S1": 30e6, "S2": 30e6, "S3": 100e6, "S4": 100e6}


def preset(code: str, backbone: str = "efficientnet_lite0", stage_count: int | None = None,
           base: RunConfig | None = None) -> RunConfig:
    """A runnable RunConfig for the scenario; `stage_count` (backbone stages) sizes S2's freeze."""
    base = base or RunConfig()
    if code not in SCENARIOS:
        raise ConfigError("scenario", f"'{code}' is not one of {', '.join(SCENARIOS)}")
    train, freeze, extra = _recipe(code, stage_count)
    # Only S3 suggests a companion: one chosen for an earlier submission never rides along (issue 29).
    return dataclasses.replace(base, scenario=code, backbone=backbone, freeze=freeze,
                               train=dataclasses.replace(base.train, **train), **{"baselines": (), **extra})


def _recipe(code: str, stage_count: int | None):
    if code == "S1":
        return ({"head_epochs": 8, "finetune_epochs": 0, "head_lr": 1e-3},
                FreezePlan(mode="all_but_head"), {"augment": AugmentSpec(preset="none")})
    if code == "S2":
        return ({"head_epochs": 3, "finetune_epochs": 6, "head_lr": 1e-3, "finetune_lr": 3e-4,
                 "lr_factor": 0.5}, FreezePlan(mode="first_k", k=s2_frozen_stages(stage_count), bn=SMALL_DATA_BN),
                {"augment": AugmentSpec(preset="light")})
    if code == "S3":
        return ({"head_epochs": 1, "finetune_epochs": 10, "head_lr": 1e-3, "finetune_lr": 1e-3,
                 "lr_factor": 1.0}, FreezePlan(mode="none"),
                {"augment": AugmentSpec(preset="strong"), "baselines": ("scratch",)})
    return ({"head_epochs": 2, "finetune_epochs": 6, "head_lr": 1e-3, "finetune_lr": 1e-4,
             "lr_factor": 0.3}, FreezePlan(mode="none", bn=SMALL_DATA_BN), {"augment": AugmentSpec(preset="light")})


def refit_freeze(config: RunConfig, stage_count: int) -> RunConfig:
    """After a backbone change, keep "freeze the early half" meaningful for the new stage count."""
    if config.freeze.mode != "first_k":
        return config
    return config.replace(freeze=dataclasses.replace(config.freeze, k=s2_frozen_stages(stage_count)))


def recommend(code: str, infos: list, count: int = 3) -> list[str]:
    """Backbones to suggest: weights usable right now, small enough for the scenario's data
    (small datasets overfit big networks), best published ImageNet top-1 first; a bundled
    backbone is always among them so the suggestion works offline."""
    limit = RECOMMEND_MAX_PARAMS.get(code, 30e6)
    usable = [b for b in infos if b.weights in USABLE_WEIGHTS and b.source != "run" and (b.params or 0) <= limit]
    ranked = sorted(usable, key=lambda b: (b.top1 is None, -(b.top1 or 0), b.params or 0))
    picks = [b.name for b in ranked if b.top1 is not None][:count]
    bundled = [b.name for b in usable if b.weights == "bundled"]
    if bundled and not set(bundled) & set(picks):
        picks = picks[:count - 1] + [bundled[0]]
    return picks or bundled[:count]
