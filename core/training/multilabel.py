"""Several labels per image: the measures (average precision per label and its mean, precision, recall and
F1 at a threshold, subset accuracy) and one threshold per label, chosen on the validation images alone.

A label's threshold gives the best F1 on the validation images (on = probability ≥ threshold; of equal F1s
the highest threshold). It sits halfway between the lowest probability it keeps on and the next lower one, not
on a validation image's own probability: there a difference of 1e-7 (an exported graph's arithmetic) would
flip the image. With fewer than MIN_POSITIVES validation images carrying the
label, F1 would be chosen on one or two pictures: the label keeps 0.5 and says why. Test images never reach
`choose_thresholds`, so they cannot move a threshold. Plain numpy, checked against scikit-learn in the tests.
"""
from __future__ import annotations

import numpy as np

DEFAULT_THRESHOLD = 0.5
MIN_POSITIVES = 3


def average_precision(scores: np.ndarray, truth: np.ndarray) -> float | None:
    """Σ (Rₙ − Rₙ₋₁) Pₙ over the distinct scores, highest first (scikit-learn's definition); None when no
    image carries the label (nothing to find)."""
    positives = int(truth.sum())
    if positives == 0:
        return None
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], truth[order].astype(float)
    last = np.r_[s[1:] != s[:-1], True]  # the last image of each run of equal scores: one threshold each
    tp, seen = np.cumsum(t)[last], np.arange(1, len(s) + 1)[last]
    precision, recall = tp / seen, tp / positives
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def choose_threshold(scores: np.ndarray, truth: np.ndarray) -> dict:
    """{"threshold", "chosen", "note"} for one label from its validation scores."""
    positives = int(truth.sum())
    if positives < MIN_POSITIVES:
        return {"threshold": DEFAULT_THRESHOLD, "chosen": False,
                "note": f"{positives} validation image(s) carry it, fewer than {MIN_POSITIVES}: kept 0.5"}
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], truth[order].astype(float)
    last = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    tp = np.cumsum(t)[last]
    f1 = 2 * tp / (last + 1 + positives)  # 2TP / (predicted + actual)
    best = last[int(np.argmax(f1))]  # argmax takes the first: the highest threshold of equal F1s
    below = s[best + 1] if best + 1 < len(s) else 0.0
    return {"threshold": float((s[best] + below) / 2), "chosen": True,
            "note": f"best F1 on {len(s)} validation images ({positives} carry it)"}


def choose_thresholds(probs: np.ndarray, truth: np.ndarray, classes: list[str]) -> list[dict]:
    """One threshold per label, from validation probabilities (n, labels) and 0/1 truth alone."""
    if len(probs) == 0:
        return [{"label": c, "threshold": DEFAULT_THRESHOLD, "chosen": False,
                 "note": "no validation images: kept 0.5"} for c in classes]
    return [{"label": c, **choose_threshold(probs[:, i], truth[:, i])} for i, c in enumerate(classes)]


def at_threshold(on: np.ndarray, truth: np.ndarray) -> dict:
    """Precision, recall and F1 of one label's on/off against the truth (0 where undefined)."""
    tp = float(np.sum(on & truth))
    predicted, actual = float(on.sum()), float(truth.sum())
    precision = tp / predicted if predicted else 0.0
    recall = tp / actual if actual else 0.0
    f1 = 2 * tp / (predicted + actual) if predicted + actual else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def subset_accuracy(on: np.ndarray, truth: np.ndarray) -> float:
    """The share of images with every label right (none missed, none added)."""
    return float(np.mean(np.all(on == truth, axis=1))) if len(on) else 0.0


def mean_ap(probs: np.ndarray, truth: np.ndarray) -> float | None:
    """The mean of the labels' average precisions, over labels some image carries."""
    found = [ap for ap in (average_precision(probs[:, i], truth[:, i]) for i in range(probs.shape[1]))
             if ap is not None]
    return float(np.mean(found)) if found else None


def report(probs: np.ndarray, truth: np.ndarray, classes: list[str], thresholds: list[dict],
           image_ids: list[int]) -> dict:
    """The evaluation of a multi-label run on one split, at its thresholds (`choose_thresholds`' dicts)."""
    truth = truth.astype(bool)
    on = probs >= np.asarray([t["threshold"] for t in thresholds])[None, :]
    per_label = []
    for i, name in enumerate(classes):
        ap = average_precision(probs[:, i], truth[:, i])
        measured = at_threshold(on[:, i], truth[:, i])
        per_label.append({"label": name, "ap": _r(ap), **{k: _r(v) for k, v in measured.items()},
                          "threshold": _r(thresholds[i]["threshold"]), "support": int(truth[:, i].sum()),
                          "threshold_chosen": thresholds[i]["chosen"], "threshold_note": thresholds[i]["note"]})
    found = mean_ap(probs, truth)
    subset = subset_accuracy(on, truth)
    return {"task": "multilabel", "images": len(probs), "map": _r(found), "subset_accuracy": _r(subset),
            "accuracy": _r(subset),  # what single-label readers call accuracy: every label right, per image
            "per_label": per_label, "none_of_the_labels": int((~truth).all(axis=1).sum()),
            "predictions": [{"image_id": i, "true": [int(x) for x in np.flatnonzero(t)],
                             "on": [int(x) for x in np.flatnonzero(o)], "probs": [round(float(q), 4) for q in p]}
                            for i, t, o, p in zip(image_ids, truth, on, probs)]}


def mistake_pairs(predictions: list[dict], labels: int) -> list[list[int]]:
    """[missed][added]: per pair of labels, the images where the first was missed and the second wrongly added
    (a report's `predictions`: each image's true and on label indices)."""
    pairs = [[0] * labels for _ in range(labels)]
    for p in predictions:
        true, on = set(p["true"]), set(p["on"])
        for missed in true - on:
            for added in on - true:
                pairs[missed][added] += 1
    return pairs


def pr_curve(scores: np.ndarray, truth: np.ndarray) -> dict:
    """Precision and recall at every distinct score taken as the threshold (highest first): a label's curve."""
    positives = max(int(truth.sum()), 1)
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], truth[order].astype(float)
    last = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    tp = np.cumsum(t)[last]
    return {"threshold": s[last].tolist(), "precision": (tp / (last + 1)).tolist(), "recall": (tp / positives).tolist()}


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)
