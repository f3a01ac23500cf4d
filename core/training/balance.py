"""Imbalanced classes, fixed rather than only reported (`train.class_balance`).

weighted_loss: each class's loss is weighted by n / (classes × n_class), so every class adds the same
total weight to an epoch; the images are drawn as usual. balanced_sampler: an epoch draws as many
images as the training set holds, with replacement, each with probability ∝ 1 / n_class, so every class
is drawn about equally often and a rare class's images are seen several times per epoch. Both use the
training split's counts only; validation and test are measured as they are."""
from __future__ import annotations

import torch


def class_counts(labels: torch.Tensor, classes: int) -> torch.Tensor:
    return torch.bincount(labels.long().cpu(), minlength=classes).float()


def loss_weights(labels: torch.Tensor, classes: int) -> torch.Tensor:
    """n / (classes × n_class) per class; a class without training images weighs nothing (it never occurs)."""
    counts = class_counts(labels, classes)
    present = counts > 0
    weights = torch.zeros(classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


def sample_weights(labels: torch.Tensor, classes: int) -> torch.Tensor:
    """1 / n_class for each image: the draw probabilities of a balanced epoch (unnormalised)."""
    counts = class_counts(labels, classes)
    return 1.0 / counts[labels.long().cpu()]


def for_config(option: str, labels: torch.Tensor, classes: int) -> dict:
    """What the trainer needs for `option`: loss weights, sample weights, or neither."""
    if option == "weighted_loss":
        return {"loss": loss_weights(labels, classes)}
    if option == "balanced_sampler":
        return {"sampler": sample_weights(labels, classes)}
    return {}


SAMPLER_FROM = 10  # from this ratio on, weights of 10× and more make a noisy loss: draw rare images more often


def propose(imbalance_ratio: float) -> str:
    """The remedy the Data page proposes for an imbalance ratio (largest / smallest class) of 3 or more."""
    if imbalance_ratio < 3:
        return "none"
    return "balanced_sampler" if imbalance_ratio >= SAMPLER_FROM else "weighted_loss"
