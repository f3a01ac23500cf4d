"""Images that look mislabelled, found the confident-learning way (Northcutt, Jiang & Chuang, JAIR 2021; the
rule cleanlab's `find_label_issues` applies by default), implemented here in a few lines rather than adding
cleanlab and its dependencies for one function.

1. Held-out probabilities: a linear head (multinomial logistic regression on the unit-length pooled features)
   is fitted FOLDS times, each time without one fold, and predicts that fold: no image is judged by a head
   that saw its label.
2. Per class j a threshold t_j: the mean held-out probability of class j over the images labelled j (how sure
   the head is, on average, of that class's own images).
3. An image labelled i counts towards class j when p_j >= t_j (the most probable such class); the counts
   form the confident joint. Its off-diagonal cell (i, j) estimates how many images labelled i are really j.
4. Prune by noise rate: in each off-diagonal cell the images labelled i with the largest margin p_j - p_i
   are suspects, as many as the cell counts; an image the held-out head itself calls i is never one.

Suspects are listed least sure of their own label first, and flagged (the default cut) only where the held-out
head gives the label under CUT: confident learning alone flags the held-out head's own confident mistakes too
(on 200 MNIST digits through ImageNet features it is right on 79 %: 26 suspects, 8 of 10 flipped labels). A vote of the 5 nearest neighbours, which this
replaced, flagged 25 of 200 MNIST digits with 10 labels flipped on purpose, 8 of them flipped; the numbers
for this rule are in the note of issue 29 (`tools/suspects_bench.py`)."""
from __future__ import annotations

import numpy as np

FOLDS = 5
CUT = 0.05  # flagged below this held-out probability of the label (1 in 20); measured in the note of issue 29
C = 10.0  # inverse regularisation of the head; unit features have small coordinates (chosen on MNIST, the note)
MAX_ITER = 500


def suspects(features: np.ndarray, labels: np.ndarray, classes: list[str]) -> list[dict]:
    """Per suspect (least sure of its label first): its index, the held-out head's probability of its label
    and its likeliest class with that probability, and whether it is `flagged` (below CUT)."""
    if len(classes) < 2 or np.bincount(labels, minlength=len(classes)).max(initial=0) < 2:
        return []  # nothing to learn a held-out head from
    probs = held_out_probabilities(features, labels, len(classes))
    rows = []
    for k in find(probs, labels):
        likely = int(probs[k].argmax())
        rows.append({"index": k, "label_probability": round(float(probs[k, labels[k]]), 3),
                     "likely_class": classes[likely], "likely_probability": round(float(probs[k, likely]), 3),
                     "flagged": bool(probs[k, labels[k]] < CUT)})
    return rows


def held_out_probabilities(features: np.ndarray, labels: np.ndarray, classes: int, folds: int = FOLDS) -> np.ndarray:
    """(n, classes) probabilities, each row from a head fitted without that image's fold (stratified, seed 0)."""
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    probs = np.zeros((len(labels), classes))
    splitter = StratifiedKFold(n_splits=_folds(labels, folds), shuffle=True, random_state=0)
    with threadpool_limits(1):  # 0.8 s in one thread; 60 s with the BLAS's threads fighting the box's load
        for fit, held in splitter.split(unit, labels):
            probs[held] = _fit_predict(unit[fit], labels[fit], unit[held], classes)
    return probs


def _folds(labels: np.ndarray, folds: int) -> int:
    """Fewer folds where a class has fewer images than FOLDS (stratification needs one per fold), at least 2."""
    smallest = min([c for c in np.bincount(labels) if c > 0], default=0)
    return max(2, min(folds, smallest))


def _fit_predict(x: np.ndarray, y: np.ndarray, query: np.ndarray, classes: int) -> np.ndarray:
    """A fold's head; a class absent from its training part gets probability 0 there."""
    from sklearn.linear_model import LogisticRegression

    out = np.zeros((len(query), classes))
    seen = np.unique(y)
    if len(seen) == 1:
        out[:, seen[0]] = 1.0
        return out
    head = LogisticRegression(C=C, max_iter=MAX_ITER).fit(x, y)
    out[:, head.classes_] = head.predict_proba(query)
    return out


def find(probs: np.ndarray, labels: np.ndarray) -> list[int]:
    """Indices of the suspects (confident joint, pruned by noise rate), least sure of their label first."""
    n, classes = probs.shape
    counts = np.bincount(labels, minlength=classes)
    thresholds = np.array([probs[labels == j, j].mean() if counts[j] else np.inf for j in range(classes)])
    joint = _confident_joint(probs, labels, thresholds)
    said = probs.argmax(1)
    flagged = set()
    for i in range(classes):
        for j in range(classes):
            if i == j or not joint[i, j]:
                continue
            members = np.flatnonzero(labels == i)
            margin = probs[members, j] - probs[members, i]
            flagged.update(int(k) for k in members[np.argsort(-margin, kind="stable")[:joint[i, j]]] if said[k] != i)
    return sorted(flagged, key=lambda k: (probs[k, labels[k]], k))


def _confident_joint(probs: np.ndarray, labels: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """counts[i, j]: images labelled i whose most probable class at or above its threshold is j, calibrated so
    each row sums to the images labelled i (as cleanlab's `calibrate_confident_joint`)."""
    classes = probs.shape[1]
    above = np.where(probs >= thresholds, probs, -1.0)
    confident = above.max(1) >= 0
    joint = np.zeros((classes, classes))
    np.add.at(joint, (labels[confident], above[confident].argmax(1)), 1)
    rows = joint.sum(1, keepdims=True)
    sizes = np.bincount(labels, minlength=classes)[:, None]
    calibrated = np.divide(joint * sizes, rows, out=np.zeros_like(joint), where=rows > 0)
    return np.rint(calibrated).astype(int)
