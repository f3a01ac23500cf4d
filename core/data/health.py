"""Dataset health: what to fix before training, as plain data for the UI and the CLI.

Class balance, exact duplicates (found at ingestion), near-duplicates across splits (leaks, by a
perceptual hash), tiny images, the grayscale/colour mix, and the size bucket that places
the dataset on the scenario grid. A multi-label dataset's classes are its labels (images per label), and it
adds the images with none of the labels and how often two labels share an image.
"""
from __future__ import annotations

import itertools
import json
from collections import Counter

import numpy as np

from core.config import MULTILABEL
from core.data import splits, store
from core.data.fingerprint import hamming
from core.scenarios import size_bucket

TINY_SIDE = 32
NEAR_DUPLICATE_BITS = 3  # of 63: a JPEG recompression, a resize or a crop of about 1% per side stays within this (measured)
MAX_LEAK_IMAGES = 20_000  # all pairs of more would be slow; larger sets are sampled
LIST_LIMIT = 50


def check(dataset: str, owner: str | None = None) -> dict:
    """Splits shown are the default fractions and seed (each run pins its own lists)."""
    ident = store.find(dataset, owner).id
    split_of = splits.assign(ident)
    rows = [{**r, "split": split_of.get(r["id"])} for r in store.image_rows(dataset, owner)]
    counts = store.class_counts(dataset, owner)
    nonzero = [n for n in counts.values() if n > 0]
    per_class = float(np.mean(nonzero)) if nonzero else 0.0
    return {
        "dataset": dataset,
        "images": len(rows),
        "classes": counts,
        "empty_classes": [c for c, n in counts.items() if n == 0],
        "imbalance_ratio": round(max(nonzero) / min(nonzero), 2) if nonzero else None,
        "splits": {s: sum(1 for r in rows if r["split"] == s) for s in splits.SPLITS},
        "splits_by_class": _splits_by_class(rows),
        "duplicates": store.duplicate_rows(dataset, owner),
        "leaks": _leaks(rows),
        "tiny": _limited([r["original"] for r in rows if min(r["width"], r["height"]) < TINY_SIDE]),
        "grayscale": sum(r["gray"] for r in rows),
        "color": len(rows) - sum(r["gray"] for r in rows),
        "mixed_color": 0 < sum(r["gray"] for r in rows) < len(rows),
        "images_per_class": round(per_class, 1),
        "size_bucket": size_bucket(per_class),
        "trainable": _trainable(dataset, owner),
        "task": store.task_of(ident),
        **(_label_facts(rows) if store.task_of(ident) == MULTILABEL else {}),
    }


def _labels(row: dict) -> list[str]:
    """An image's labels: a multi-label image's list (maybe empty), or its one class."""
    return json.loads(row["labels"]) if row.get("labels") is not None else [row["class_name"]]


def _label_facts(rows: list[dict]) -> dict:
    """Images with none of the labels, and per pair of labels how many images carry both."""
    pairs = Counter(pair for r in rows for pair in itertools.combinations(sorted(_labels(r)), 2))
    return {"no_label": sum(1 for r in rows if not _labels(r)),
            "co_occurrence": [{"labels": list(pair), "images": n} for pair, n in pairs.most_common()]}


def _trainable(dataset: str, owner: str | None) -> dict:
    try:
        store.check_trainable(dataset, owner)
        return {"ok": True, "message": ""}
    except Exception as exc:
        return {"ok": False, "message": str(exc)}


def _splits_by_class(rows: list[dict]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        for name in _labels(r):
            per = out.setdefault(name, {s: 0 for s in splits.SPLITS})
            if r["split"]:
                per[r["split"]] += 1
    return out


def _limited(items: list) -> dict:
    return {"count": len(items), "examples": items[:LIST_LIMIT]}


def _leaks(rows: list[dict]) -> dict:
    """Near-identical images that sit in different splits: the test score would flatter."""
    rows = [r for r in rows if r["split"]]
    if len(rows) > MAX_LEAK_IMAGES:
        rng = np.random.default_rng(0)
        rows = [rows[i] for i in sorted(rng.choice(len(rows), MAX_LEAK_IMAGES, replace=False))]
    if len(rows) < 2:
        return {"count": 0, "pairs": []}
    hashes = np.array([int(r["phash"], 16) for r in rows], dtype=np.uint64)
    splits = np.array([r["split"] for r in rows])
    pairs = []
    for i in range(len(rows) - 1):
        distance = hamming(hashes[i] ^ hashes[i + 1:])
        for j in np.nonzero((distance <= NEAR_DUPLICATE_BITS) & (splits[i + 1:] != splits[i]))[0]:
            other = rows[i + 1 + j]
            pairs.append({"a": rows[i]["original"], "a_split": rows[i]["split"], "b": other["original"],
                          "b_split": other["split"], "distance": int(distance[j])})
    return {"count": len(pairs), "pairs": pairs[:LIST_LIMIT]}
