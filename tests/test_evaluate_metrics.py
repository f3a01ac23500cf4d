"""The evaluation's counts against scikit-learn on fixed arrays, and its calibration bins by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, precision_recall_fscore_support

from core.training import evaluate


def _logits(labels: list[int], predicted: list[int], n: int) -> torch.Tensor:
    """Logits whose argmax is `predicted` (confidence about 0.7 each)."""
    logits = torch.zeros(len(labels), n)
    logits[torch.arange(len(labels)), torch.tensor(predicted)] = 2.0 + np.log(n - 1) * 0.5
    return logits


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")  # the third case, on purpose
@pytest.mark.parametrize("labels, predicted, n", [
    ([0, 0, 1, 1, 2, 2, 2, 3], [0, 1, 1, 1, 2, 0, 2, 0], 4),   # class 3 never predicted: precision 0, not NaN
    ([0, 1, 2, 0, 1, 2], [0, 1, 2, 0, 1, 2], 5),               # classes 3 and 4 absent from both
    ([1, 1, 1, 1], [0, 0, 1, 2], 3),                           # class 0 and 2 predicted, never present
])
def test_accuracy_per_class_scores_and_confusion_match_scikit_learn(labels, predicted, n):
    report = evaluate.report(_logits(labels, predicted, n), torch.tensor(labels), [f"c{i}" for i in range(n)],
                             list(range(len(labels))))
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, labels=list(range(n)),
                                                                     zero_division=0)
    assert report["accuracy"] == pytest.approx(accuracy_score(labels, predicted), abs=1e-6)
    assert report["confusion"] == confusion_matrix(labels, predicted, labels=list(range(n))).tolist()
    assert [row["precision"] for row in report["per_class"]] == pytest.approx(precision, abs=1e-4)
    assert [row["recall"] for row in report["per_class"]] == pytest.approx(recall, abs=1e-4)
    assert [row["f1"] for row in report["per_class"]] == pytest.approx(f1, abs=1e-4)
    assert [row["support"] for row in report["per_class"]] == support.tolist()
    # scikit-learn's balanced accuracy averages over the classes present in the labels, as ours does
    assert report["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(labels, predicted), abs=1e-6)


def test_calibration_bins_and_expected_error_by_hand():
    # confidences 0.95 (right), 0.95 (wrong), 0.55 (right), 1.0 (right: the top bin, not a bin of its own)
    probs = torch.tensor([[0.95, 0.05], [0.95, 0.05], [0.45, 0.55], [1.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 0])
    out = evaluate.calibration(probs, labels, 2)
    assert len(out["bins"]) == 10
    top, middle = out["bins"][9], out["bins"][5]
    assert (top["fraction"], top["accuracy"], top["confidence"]) == (0.75, pytest.approx(2 / 3, abs=1e-4),
                                                                     pytest.approx(2.9 / 3, abs=1e-4))
    assert (middle["fraction"], middle["accuracy"], middle["confidence"]) == (0.25, 1.0, 0.55)
    # ECE: the share-weighted gap between accuracy and confidence over the bins shown
    assert out["ece"] == pytest.approx(0.75 * abs(2 / 3 - 2.9 / 3) + 0.25 * abs(1.0 - 0.55), abs=1e-4)
