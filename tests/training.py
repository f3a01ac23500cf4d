"""Helpers for engine tests: a small real dataset and quick configs."""
from __future__ import annotations

from core.data import samples
from core.config import AugmentSpec, DataSpec, FreezePlan, RunConfig, TrainSpec


def digits(name: str = "dg", per_class: int = 20) -> str:
    samples.materialize("digits", name, per_class=per_class)
    return name


def probe(dataset: str, weights: str = "imagenet", epochs: int = 12, **train) -> RunConfig:
    """Linear probe of the bundled EfficientNet-Lite0 on cached features: seconds on a CPU."""
    return RunConfig(backbone="efficientnet_lite0", weights=weights, augment=AugmentSpec(preset="none"),
                     data=DataSpec(dataset=dataset),
                     train=TrainSpec(head_epochs=epochs, head_lr=3e-3, batch_size=32, **train))


def finetune(dataset: str, epochs: int = 2, **train) -> RunConfig:
    """Fine-tuning a small random-init network: the slow path (backbone every epoch)."""
    return RunConfig(backbone="mobilenet_v3_small", weights="none", augment=AugmentSpec(preset="light"),
                     freeze=FreezePlan(mode="first_k", k=2), data=DataSpec(dataset=dataset),
                     train=TrainSpec(head_epochs=0, finetune_epochs=epochs, finetune_lr=1e-3, batch_size=32, **train))
