"""Evaluation on held-out data: accuracy, per-class precision/recall/F1, confusion matrix, top losses,
calibration (ECE + reliability bins). Plain dicts for the store.

The counts are a few lines of torch (tests/test_evaluate_metrics.py checks them against scikit-learn):
torchmetrics did the same and cost every process that trains or re-scores 3 s of imports (scipy.signal
and its audio metrics came with it), a worker's start and the app's first page included.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

BINS = 10
TOP_LOSSES = 24


def report(logits: torch.Tensor, labels: torch.Tensor, classes: list[str], image_ids: list[int]) -> dict:
    n = len(classes)
    probs = logits.float().softmax(-1)
    confusion = confusion_matrix(probs.argmax(-1), labels, n)
    precision, recall, f1 = per_class_scores(confusion)
    return {
        "images": len(labels),
        "accuracy": round(float(confusion.diag().sum() / max(len(labels), 1)), 6),
        "balanced_accuracy": balanced_accuracy(recall, labels, n),
        "per_class": [{"class": c, "precision": round(float(p), 4), "recall": round(float(r), 4),
                       "f1": round(float(f), 4), "support": int((labels == i).sum())}
                      for i, (c, p, r, f) in enumerate(zip(classes, precision, recall, f1))],
        "confusion": confusion.tolist(),
        "top_losses": top_losses(logits, labels, classes, image_ids),
        "calibration": calibration(probs, labels, n),
        "predictions": [{"image_id": i, "true": int(t), "pred": int(p), "prob": round(float(q), 4)}
                        for i, t, p, q in zip(image_ids, labels, probs.argmax(-1), probs.max(-1).values)],
    }


def confusion_matrix(predicted: torch.Tensor, labels: torch.Tensor, n: int) -> torch.Tensor:
    """Rows: the true class; columns: the predicted one."""
    flat = labels.long() * n + predicted.long()
    return torch.bincount(flat, minlength=n * n).reshape(n, n)


def per_class_scores(confusion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Precision, recall and F1 per class; 0 where a class was never predicted or never present."""
    tp = confusion.diag().double()
    predicted, actual = confusion.sum(0).double(), confusion.sum(1).double()
    return _ratio(tp, predicted), _ratio(tp, actual), _ratio(2 * tp, predicted + actual)


def _ratio(top: torch.Tensor, bottom: torch.Tensor) -> torch.Tensor:
    return torch.where(bottom > 0, top / bottom.clamp(min=1), torch.zeros_like(top))


def balanced_accuracy(recall: torch.Tensor, labels: torch.Tensor, n: int) -> float:
    """The mean of the per-class recalls over the classes that have images: every class counts the same,
    so a model that ignores a rare class cannot hide behind the common ones."""
    present = torch.bincount(labels.long(), minlength=n) > 0
    return round(float(recall[present].mean()), 6) if present.any() else 0.0


def recall_changes(report: dict, others: dict[str, dict | None]) -> list[dict]:
    """Per class: this report's recall and, per other run (its evaluation, by run id), that run's recall minus
    this one's; None where that run has no such class (compare runs tested on the same images)."""
    rows = []
    for mine in report["per_class"]:
        row = {"class": mine["class"], "recall": mine["recall"]}
        for run_id, other in others.items():
            theirs = {p["class"]: p["recall"] for p in (other or {}).get("per_class", [])}
            row[run_id] = round(theirs[mine["class"]] - mine["recall"], 4) if mine["class"] in theirs else None
        rows.append(row)
    return rows


def top_losses(logits: torch.Tensor, labels: torch.Tensor, classes: list[str], image_ids: list[int],
               k: int = TOP_LOSSES) -> list[dict]:
    losses = F.cross_entropy(logits.float(), labels, reduction="none")
    probs = logits.float().softmax(-1)
    order = losses.argsort(descending=True)[:k]
    return [{"image_id": image_ids[i], "true": classes[int(labels[i])], "pred": classes[int(probs[i].argmax())],
             "prob": round(float(probs[i].max()), 4), "true_prob": round(float(probs[i, labels[i]]), 4),
             "loss": round(float(losses[i]), 4)} for i in order.tolist()]


def calibration(probs: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict:
    """Expected calibration error over ten equal confidence bins, and the bins for the reliability chart."""
    confidences, predictions = probs.max(-1)
    accuracies = (predictions == labels).float()
    edges = torch.linspace(0, 1, BINS + 1)
    acc_bin, conf_bin, prop_bin = _fold_last(*_bins(confidences, accuracies, edges))
    ece = torch.sum(torch.abs(acc_bin - conf_bin) * prop_bin)
    return {"ece": round(float(ece), 5), "bins": [
        {"low": round(float(edges[i]), 2), "high": round(float(edges[i + 1]), 2), "accuracy": round(float(a), 4),
         "confidence": round(float(c), 4), "fraction": round(float(p), 4)}
        for i, (a, c, p) in enumerate(zip(acc_bin, conf_bin, prop_bin))]}


def _bins(confidences: torch.Tensor, accuracies: torch.Tensor, edges: torch.Tensor):
    """Per bin [edge_i, edge_i+1): mean accuracy, mean confidence and the share of images; a confidence of
    exactly 1.0 lands in one extra bin past the last edge."""
    index = torch.bucketize(confidences, edges, right=True) - 1
    count = torch.zeros(len(edges)).scatter_add_(0, index, torch.ones_like(confidences))
    conf = torch.nan_to_num(torch.zeros(len(edges)).scatter_add_(0, index, confidences) / count)
    acc = torch.nan_to_num(torch.zeros(len(edges)).scatter_add_(0, index, accuracies) / count)
    return acc, conf, count / count.sum().clamp(min=1)


def _fold_last(acc: torch.Tensor, conf: torch.Tensor, prop: torch.Tensor):
    """The extra bin (confidence == 1.0) belongs to the top bin [0.9, 1]."""
    total = prop[-2] + prop[-1]
    if total > 0:
        acc[-2] = (acc[-2] * prop[-2] + acc[-1] * prop[-1]) / total
        conf[-2] = (conf[-2] * prop[-2] + conf[-1] * prop[-1]) / total
        prop[-2] = total
    return acc[:-1], conf[:-1], prop[:-1]
