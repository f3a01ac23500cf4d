"""Splits for a multi-label dataset: iterative stratification (Sechidis et al. 2011, the
`iterative-stratification` package) over the images not placed yet, so every label keeps close to its
share in train, validation and test, and an image once placed never moves (`splits` keeps the rule).

The new images are stratified among themselves, each split asked for its deficit: what the dataset's new
size asks of it (`splits.split_sizes`) less what it holds already. So a set that arrives at once is split
at the fractions with each label spread in proportion, and a set that grows keeps each label within a few
images of its share (each batch is spread in proportion; the per-batch rounding adds up). The order is
fixed by content hash and seed: the same upload gives the same split whatever order its files came in.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
from iterstrat.ml_stratifiers import IterativeStratification

SPLITS = ("train", "val", "test")


def place(rows: list, sizes: tuple[int, int, int], seed: int) -> list[tuple[int, str]]:
    """(image id, split) for the rows without a split. `rows`: every image of the dataset with "id", "sha256",
    "labels" (JSON names or None) and "split" (None: not placed); `sizes`: the (train, val, test) counts the
    dataset's whole size asks for."""
    held = {s: sum(1 for r in rows if r["split"] == s) for s in SPLITS}
    new = sorted((r for r in rows if not r["split"]), key=lambda r: _order(seed, r["sha256"]))
    if not new:
        return []
    deficit = np.array([max(0, want - held[s]) for s, want in zip(SPLITS, sizes)], dtype=float)
    if deficit.sum() == 0:  # every split at its quota: the new images go where the fractions would put them
        deficit = np.array(sizes, dtype=float) + 1e-9
    folds = IterativeStratification(labels=_matrix(new), r=deficit / deficit.sum(),
                                    random_state=np.random.RandomState(seed))
    return [(r["id"], SPLITS[int(f)]) for r, f in zip(new, folds)]


def _matrix(rows: list) -> np.ndarray:
    """0/1 per label (boolean: the package indexes its per-label counts with each row)."""
    names = sorted({n for r in rows for n in json.loads(r["labels"] or "[]")})
    index = {n: i for i, n in enumerate(names)}
    out = np.zeros((len(rows), max(1, len(names))), dtype=bool)
    for i, r in enumerate(rows):
        for n in json.loads(r["labels"] or "[]"):
            out[i, index[n]] = True
    return out


def _order(seed: int, sha: str) -> str:
    return hashlib.sha256(f"{seed}:{sha}".encode()).hexdigest()
