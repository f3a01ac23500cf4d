"""Train / validation / test splits: stratified per class, seeded, stored in the manifest."""
from __future__ import annotations

import json
import random
from dataclasses import dataclass

from core import db
from core.config import DataSpec
from core.data import store
from core.errors import UserError

SPLITS = ("train", "val", "test")
DEFAULT_VAL, DEFAULT_TEST, DEFAULT_SEED = 0.15, 0.15, 0


@dataclass
class Splits:
    """The image lists one run trains, validates and tests on; labels index `classes`."""

    classes: list[str]
    train: list[store.ImageRecord]
    val: list[store.ImageRecord]
    test: list[store.ImageRecord]


def for_spec(spec: DataSpec) -> Splits:
    """The dataset's current split for this DataSpec (its fractions, seed and per-class limit)."""
    if not spec.dataset:
        raise UserError("data.dataset: no dataset chosen; ingest one or pick a sample first")
    classes = store.check_trainable(spec.dataset)
    ensure_split(spec.dataset, spec.val_fraction, spec.test_fraction, spec.split_seed)
    train = _limit(store.records(spec.dataset, "train"), spec.per_class_limit)
    return Splits(classes, train, store.records(spec.dataset, "val"), store.records(spec.dataset, "test"))


def _limit(records: list, per_class: int | None) -> list:
    if per_class is None:
        return records
    taken: dict[int, int] = {}
    kept = []
    for r in records:
        if taken.get(r.label, 0) < per_class:
            taken[r.label] = taken.get(r.label, 0) + 1
            kept.append(r)
    return kept


def split_sizes(n: int, val_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """(train, val, test) for a class of n images: at least one val image once n ≥ 2, and at
    least one training image always."""
    if n <= 1:
        return n, 0, 0
    val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0
    test = round(n * test_fraction) if n >= 3 else 0
    if test_fraction > 0 and n >= 3:
        test = max(1, test)
    while n - val - test < 1:
        if test > 0:
            test -= 1
        else:
            val -= 1
    return n - val - test, val, test


def assign_splits(dataset: str, val_fraction: float = DEFAULT_VAL, test_fraction: float = DEFAULT_TEST,
                  seed: int = DEFAULT_SEED) -> dict[str, int]:
    """Stratified, seeded split; the order inside a class depends on content hashes and the seed
    only, so the same images give the same split whatever order they arrived in."""
    ident = store.dataset_id(dataset)
    with db.transaction() as conn:
        rows = conn.execute("SELECT id, class_id, sha256 FROM images WHERE dataset_id = ?", (ident,)).fetchall()
        by_class: dict[int, list] = {}
        for r in rows:
            by_class.setdefault(r["class_id"], []).append(r)
        for members in by_class.values():
            members.sort(key=lambda r: r["sha256"])
            random.Random(f"{seed}").shuffle(members)
            train, val, _ = split_sizes(len(members), val_fraction, test_fraction)
            for pos, r in enumerate(members):
                split = "train" if pos < train else "val" if pos < train + val else "test"
                conn.execute("UPDATE images SET split = ? WHERE id = ?", (split, r["id"]))
        conn.execute("UPDATE datasets SET split_params = ? WHERE id = ?",
                     (json.dumps([val_fraction, test_fraction, seed]), ident))
    return split_counts(dataset)


def ensure_split(dataset: str, val_fraction: float, test_fraction: float, seed: int) -> dict[str, int]:
    if split_params(store.dataset_id(dataset)) != (val_fraction, test_fraction, seed):
        return assign_splits(dataset, val_fraction, test_fraction, seed)
    return split_counts(dataset)


def split_params(ident: int) -> tuple[float, float, int]:
    with db.reading() as conn:
        row = conn.execute("SELECT split_params FROM datasets WHERE id = ?", (ident,)).fetchone()
    if row and row["split_params"]:
        val, test, seed = json.loads(row["split_params"])
        return float(val), float(test), int(seed)
    return DEFAULT_VAL, DEFAULT_TEST, DEFAULT_SEED


def split_counts(dataset: str) -> dict[str, int]:
    with db.reading() as conn:
        rows = conn.execute("SELECT split, COUNT(*) AS n FROM images WHERE dataset_id = ? GROUP BY split",
                            (store.dataset_id(dataset),)).fetchall()
    counts = {s: 0 for s in SPLITS}
    counts.update({r["split"]: r["n"] for r in rows if r["split"]})
    return counts
