"""The task of a run, in one place: what its outputs mean, its loss, its live measure, its evaluation, its
thresholds and what a prediction says. `for_name(config.task)` picks one; the trainer, evaluation and
serving ask it instead of testing for multi-label themselves.

single_label: one class per image, softmax over the classes, cross-entropy (class weights as the
class-balance option), accuracy. multilabel: one sigmoid output per label, binary cross-entropy with
logits (per-label positive weights, negatives / positives in the training split, as the class-balance
option), mean average precision live, and after training one threshold per label chosen on the validation
images (`multilabel.choose_thresholds`).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from core.config import MULTILABEL, SINGLE_LABEL, TrainSpec
from core.models.outputs import top_k
from core.training import balance, evaluate, loss_ranking, multilabel, ood

POS_WEIGHT_MAX = 100.0  # a label seen once in 1,000 images would weigh 1,000: the loss turns noisy


class SingleLabel:
    name = SINGLE_LABEL
    output = "softmax"  # what an exported graph applies to the logits (`serving.export.Packaged`)

    def balance(self, option: str, labels: torch.Tensor, classes: int) -> dict:
        return balance.for_config(option, labels, classes)

    def loss(self, logits: torch.Tensor, y: torch.Tensor, weights: dict, train: TrainSpec) -> torch.Tensor:
        weight = weights.get("loss")
        return F.cross_entropy(logits, y, weight=None if weight is None else weight.to(logits.device),
                               label_smoothing=train.label_smoothing)

    def correct(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (logits.argmax(-1) == y).sum()

    def validate(self, logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float, dict]:
        """(loss, accuracy, further columns of the epoch's row)."""
        return float(F.cross_entropy(logits, labels)), float((logits.argmax(-1) == labels).float().mean()), {}

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.float().softmax(-1)

    def thresholds(self, predict_val, classes: list[str]) -> list[dict] | None:
        return None  # the most probable class wins: nothing to choose

    def report(self, logits, labels, classes, image_ids, thresholds) -> dict:
        return evaluate.report(logits, labels, classes, image_ids)

    def judged(self, probs: torch.Tensor, classes: list[str], meta: dict, k: int) -> list[dict]:
        return [{"top": top} for top in top_k(probs, classes, k)]

    def agreement(self, reference: torch.Tensor, probs: torch.Tensor, meta: dict) -> dict:
        """How often another copy of the model (an export) decides as the app does: the same top class."""
        agree = (reference.argmax(-1) == probs.argmax(-1)).float().mean()
        return {"agreement": round(float(agree), 6), "agreement_of": "top-1"}

    def hardest(self, logits: torch.Tensor, splits) -> list[dict] | None:
        """Training and validation images by loss, for the cleaner (`loss_ranking`)."""
        return loss_ranking.rank(logits, splits.train, splits.val, splits.classes)

    def not_sure(self, val_logits: torch.Tensor, val_labels: torch.Tensor) -> dict | None:
        """The "not sure" confidence suggested on the validation images (`ood.suggest_confidence`)."""
        return ood.suggest_confidence(val_logits, val_labels)


class MultiLabel(SingleLabel):
    name = MULTILABEL
    output = "sigmoid"

    def balance(self, option: str, labels: torch.Tensor, classes: int) -> dict:
        if option != "weighted_loss":
            return {}  # balanced_sampler is refused by the config for this task
        positives = labels.float().sum(0).cpu()
        negatives = len(labels) - positives
        return {"pos_weight": (negatives / positives.clamp(min=1)).clamp(max=POS_WEIGHT_MAX)}

    def loss(self, logits: torch.Tensor, y: torch.Tensor, weights: dict, train: TrainSpec) -> torch.Tensor:
        pos_weight = weights.get("pos_weight")
        return F.binary_cross_entropy_with_logits(
            logits, y.float(), pos_weight=None if pos_weight is None else pos_weight.to(logits.device))

    def correct(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Images with every label right at 0.5 (the thresholds are chosen after training)."""
        return ((logits > 0) == (y > 0.5)).all(-1).sum()

    def validate(self, logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float, dict]:
        loss = float(F.binary_cross_entropy_with_logits(logits, labels.float()))
        probs, truth = torch.sigmoid(logits).numpy(), labels.numpy() > 0.5
        found = multilabel.mean_ap(probs, truth)
        return loss, multilabel.subset_accuracy(probs >= 0.5, truth), {"val_map": _r(found)}

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits.float())

    def thresholds(self, predict_val, classes: list[str]) -> list[dict]:
        """One per label from `predict_val()`: the validation images' (logits, labels); None: there are none."""
        if predict_val is None:
            return multilabel.choose_thresholds(np.zeros((0, len(classes))), np.zeros((0, len(classes))), classes)
        logits, labels = predict_val()
        return multilabel.choose_thresholds(torch.sigmoid(logits).numpy(), labels.numpy() > 0.5, classes)

    def report(self, logits, labels, classes, image_ids, thresholds) -> dict:
        return multilabel.report(torch.sigmoid(logits.float()).numpy(), labels.numpy() > 0.5, classes, thresholds,
                                 image_ids)

    def agreement(self, reference: torch.Tensor, probs: torch.Tensor, meta: dict) -> dict:
        """The same labels on (each at its threshold) for the whole image."""
        cut = torch.tensor(_thresholds(meta, reference.shape[-1]), dtype=reference.dtype)
        agree = ((reference >= cut) == (probs >= cut)).all(-1).float().mean()
        return {"agreement": round(float(agree), 6), "agreement_of": "labels on per image"}

    def hardest(self, logits: torch.Tensor, splits) -> None:
        return None  # the cleaner's loss ranking reads one class per image

    def not_sure(self, val_logits: torch.Tensor, val_labels: torch.Tensor) -> None:
        return None  # each label has its own threshold instead of one "not sure" confidence

    def judged(self, probs: torch.Tensor, classes: list[str], meta: dict, k: int) -> list[dict]:
        """Each label's probability against its threshold; `none`: no label passes its threshold. `top`: the
        k most probable labels (each its own yes/no: they need not add up to 1)."""
        thresholds = _thresholds(meta, len(classes))
        rows = []
        for p, top in zip(probs.tolist(), top_k(probs, classes, k)):
            labels = [{"label": c, "probability": round(q, 6), "threshold": round(t, 6), "on": q >= t}
                      for c, q, t in zip(classes, p, thresholds)]
            rows.append({"labels": labels, "none": not any(x["on"] for x in labels), "top": top})
        return rows


TASKS = {SINGLE_LABEL: SingleLabel(), MULTILABEL: MultiLabel()}


def for_name(name: str) -> SingleLabel:
    return TASKS[name]


def _thresholds(meta: dict, labels: int) -> list[float]:
    """A run's per-label thresholds (0.5 each for a run without them)."""
    return [t["threshold"] for t in meta.get("thresholds") or []] or [multilabel.DEFAULT_THRESHOLD] * labels


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
