"""Train / validation / test splits: stratified per class, seeded, and sticky.

An image's split, for given fractions and seed, is decided once and never moves: adding images
assigns only the new ones. The new images of a class (taken in an order fixed by their content hash
and the seed, so the same upload gives the same result whatever order the files arrived in) fill the
splits furthest below their quotas for the class's new size. So a class that arrives at once gets
exactly its quotas, and every class stays within one image of its fractions however it grew, even at
a handful of images per class, where independent per-image hash buckets are off by 2 or more in
many classes (binomial spread). Different fractions or seeds are separate, equally sticky
assignments. A multi-label dataset's new images are placed by iterative stratification (`stratify`).
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

from core import db
from core.config import MULTILABEL, SINGLE_LABEL, DataSpec
from core.data import store, stratify
from core.errors import UserError

SPLITS = ("train", "val", "test")
DEFAULT_VAL, DEFAULT_TEST, DEFAULT_SEED = DataSpec().val_fraction, DataSpec().test_fraction, DataSpec().split_seed


@dataclass
class Splits:
    """The image lists one run trains, validates and tests on; labels index `classes` (a multi-label run's
    records carry `labels`, 0/1 per class)."""

    classes: list[str]
    train: list[store.ImageRecord]
    val: list[store.ImageRecord]
    test: list[store.ImageRecord]


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


def key_of(val_fraction: float, test_fraction: float, seed: int) -> str:
    return f"{float(val_fraction)!r}/{float(test_fraction)!r}/{int(seed)}"


def _order(seed: int, sha: str) -> str:
    return hashlib.sha256(f"{seed}:{sha}".encode()).hexdigest()


def assign(ident: int, val_fraction: float = DEFAULT_VAL, test_fraction: float = DEFAULT_TEST,
           seed: int = DEFAULT_SEED) -> dict[int, str]:
    """image id → split for these fractions and seed, assigning images that have none yet."""
    key = key_of(val_fraction, test_fraction, seed)
    with db.reading() as conn:  # the common case writes nothing: every image already has its split
        rows = _rows(conn, ident, key)
        known = conn.execute("SELECT 1 FROM split_keys WHERE dataset_id = ? AND key = ?", (ident, key)).fetchone()
    if known and all(r["split"] for r in rows):
        return {r["id"]: r["split"] for r in rows}
    with db.transaction() as conn:
        conn.execute("INSERT OR IGNORE INTO split_keys (dataset_id, key) VALUES (?, ?)", (ident, key))
        rows = _rows(conn, ident, key)
        if conn.execute("SELECT task FROM datasets WHERE id = ?", (ident,)).fetchone()["task"] == MULTILABEL:
            new = stratify.place(rows, split_sizes(len(rows), val_fraction, test_fraction), seed)
        else:
            new = _place_by_class(rows, val_fraction, test_fraction, seed)
        conn.executemany("INSERT INTO image_splits (image_id, key, split) VALUES (?, ?, ?)",
                         [(image, key, split) for image, split in new])
    return {**{r["id"]: r["split"] for r in rows if r["split"]}, **dict(new)}


def _place_by_class(rows: list, val_fraction: float, test_fraction: float, seed: int) -> list[tuple[int, str]]:
    by_class: dict[int, list] = {}
    for r in rows:
        by_class.setdefault(r["class_id"], []).append(r)
    return [(image, split) for members in by_class.values()
            for image, split in _place(members, val_fraction, test_fraction, seed)]


def _rows(conn, ident: int, key: str) -> list:
    return conn.execute("""SELECT i.id, i.class_id, i.sha256, i.labels, s.split FROM images i
                           LEFT JOIN image_splits s ON s.image_id = i.id AND s.key = ?
                           WHERE i.dataset_id = ?""", (key, ident)).fetchall()


def _place(members: list, val_fraction: float, test_fraction: float, seed: int) -> list[tuple[int, str]]:
    """Splits for a class's unassigned images: the quotas are those of the class's new size, and
    each new image joins the split furthest below its quota."""
    counts = {s: 0 for s in SPLITS}
    for r in members:
        if r["split"]:
            counts[r["split"]] += 1
    targets = dict(zip(SPLITS, split_sizes(len(members), val_fraction, test_fraction)))
    placed = []
    for r in sorted((r for r in members if not r["split"]), key=lambda r: _order(seed, r["sha256"])):
        split = max(SPLITS, key=lambda s: targets[s] - counts[s])  # ties: train, then val, then test
        counts[split] += 1
        placed.append((r["id"], split))
    return placed


def refresh(ident: int) -> None:
    """After images were added: place them in every assignment the dataset has (and the default)."""
    with db.reading() as conn:
        keys = [r["key"] for r in conn.execute("SELECT key FROM split_keys WHERE dataset_id = ?", (ident,))]
    for key in set(keys) | {key_of(DEFAULT_VAL, DEFAULT_TEST, DEFAULT_SEED)}:
        val, test, seed = key.split("/")
        assign(ident, float(val), float(test), int(seed))


def assign_splits(dataset: str, val_fraction: float = DEFAULT_VAL, test_fraction: float = DEFAULT_TEST,
                  seed: int = DEFAULT_SEED, owner: str | None = None) -> dict[str, int]:
    """Counts per split for these fractions and seed (assigning what is new)."""
    mapping = assign(store.find(dataset, owner).id, val_fraction, test_fraction, seed)
    return {s: sum(1 for v in mapping.values() if v == s) for s in SPLITS}


def split_counts(dataset: str, owner: str | None = None) -> dict[str, int]:
    """Counts for the default fractions and seed (what the Data page and health show)."""
    return assign_splits(dataset, owner=owner)


def for_spec(spec: DataSpec, owner: str | None = None, task: str = SINGLE_LABEL, tool: str | None = None) -> Splits:
    """The dataset's lists for this DataSpec (its fractions, seed and per-class limit), for a run of `task`:
    a multi-label dataset refuses a single-label run (naming the task to use, or saying that `tool`, a
    one-class-per-image tool, cannot use it); a single-label dataset gives a multi-label run each image's one
    class as its one label."""
    if not spec.dataset:
        raise UserError("data.dataset: no dataset chosen; ingest one or pick a sample first")
    ident = store.find(spec.dataset, owner).id
    has = store.task_of(ident)
    if has == MULTILABEL and tool:
        store.require_single_label(spec.dataset, owner, tool)
    if has == MULTILABEL and task != MULTILABEL:
        raise UserError(f"dataset {spec.dataset!r} has several labels per image: train it with --task multilabel "
                        "(config: task: multilabel)")
    classes = store.check_trainable(spec.dataset, owner)
    mapping = assign(ident, spec.val_fraction, spec.test_fraction, spec.split_seed)
    records = [_with_split(r, mapping[r.id]) for r in store.records_by_id(ident)]
    if task == MULTILABEL and has != MULTILABEL:
        records = one_hot(records, len(classes))
    lists = {s: [r for r in records if r.split == s] for s in SPLITS}
    return Splits(classes, limit_per_class(lists["train"], spec.per_class_limit), lists["val"], lists["test"])


def _with_split(record: store.ImageRecord, split: str) -> store.ImageRecord:
    return dataclasses.replace(record, split=split)


def one_hot(records: list[store.ImageRecord], classes: int) -> list[store.ImageRecord]:
    """One-class-per-image records as multi-label ones: their class is their one label."""
    return [dataclasses.replace(r, labels=tuple(int(i == r.label) for i in range(classes))) for r in records]


def limit_per_class(records: list, per_class: int | None) -> list:
    """The first `per_class` records of each label, in order (None: all)."""
    if per_class is None:
        return records
    taken: dict[int, int] = {}
    kept = []
    for r in records:
        if taken.get(r.label, 0) < per_class:
            taken[r.label] = taken.get(r.label, 0) + 1
            kept.append(r)
    return kept
