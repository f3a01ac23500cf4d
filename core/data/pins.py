"""A run's own image lists, fixed when it is submitted: the classes and, per split, each image's id,
hash, class and label (a multi-label run's: 0/1 per class). Evaluate, Predict's test split, export verification, resume and the
companions all read these, so adding images to a dataset (or deleting it) never changes what a
finished run was trained and judged on; the content store keeps every pinned file."""
from __future__ import annotations

import json
import time

from core import db
from core.data.splits import SPLITS, Splits
from core.data.store import ImageRecord


def pin(ref: str, dataset_id: int, dataset: str, owner: str, lists: Splits) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT INTO pins (ref, dataset_id, dataset, owner, classes, created) VALUES (?, ?, ?, ?, ?, ?)",
                     (ref, dataset_id, dataset, owner, json.dumps(lists.classes), time.time()))
        conn.executemany(
            """INSERT INTO pinned_images (ref, split, position, image_id, sha256, class_name, label, original, width,
               height, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [(ref, split, i, r.id, r.sha256, r.class_name, r.label, r.original, r.width, r.height,
              None if r.labels is None else json.dumps(list(r.labels)))
             for split in SPLITS for i, r in enumerate(getattr(lists, split))])


def load(ref: str) -> Splits | None:
    with db.reading() as conn:
        head = conn.execute("SELECT classes FROM pins WHERE ref = ?", (ref,)).fetchone()
        if head is None:
            return None
        rows = conn.execute("SELECT * FROM pinned_images WHERE ref = ? ORDER BY split, position", (ref,)).fetchall()
    by_split: dict[str, list[ImageRecord]] = {s: [] for s in SPLITS}
    for r in rows:
        labels = None if r["labels"] is None else tuple(json.loads(r["labels"]))  # multi-label: 0/1 per class
        by_split[r["split"]].append(ImageRecord(r["image_id"], r["sha256"], r["label"], r["class_name"], r["split"],
                                                r["original"], r["width"], r["height"], labels))
    return Splits(json.loads(head["classes"]), by_split["train"], by_split["val"], by_split["test"])


def hashes(ref: str) -> dict[str, list[str]]:
    """The pinned lists as content hashes per split (what `run --json` reports)."""
    lists = load(ref)
    return {s: [r.sha256 for r in getattr(lists, s)] for s in SPLITS} if lists else {s: [] for s in SPLITS}


def refs_using(dataset_id: int) -> list[str]:
    with db.reading() as conn:
        return [r[0] for r in conn.execute("SELECT ref FROM pins WHERE dataset_id = ? ORDER BY created", (dataset_id,))]


def refs_of(owners: list[str]) -> list[str]:
    """Every pin (run) these owners took: a run's folder is counted in its owner's stored bytes (`quotas`)."""
    marks = ",".join("?" * len(owners))
    with db.reading() as conn:
        return [r[0] for r in conn.execute(f"SELECT ref FROM pins WHERE owner IN ({marks})", list(owners))]


def pinned_by(dataset_id: int) -> dict[str, str]:
    """ref → owner of every pin taken from a dataset."""
    with db.reading() as conn:
        return {r[0]: r[1] for r in conn.execute("SELECT ref, owner FROM pins WHERE dataset_id = ?", (dataset_id,))}


def dataset_of(ref: str) -> dict | None:
    """{"dataset", "dataset_id" (None once deleted), "owner"} of a pin."""
    with db.reading() as conn:
        row = conn.execute("SELECT dataset, dataset_id, owner FROM pins WHERE ref = ?", (ref,)).fetchone()
    return dict(row) if row else None


def unpin(ref: str) -> set[str]:
    """Forget a pin; returns its hashes (candidates for the content store to collect)."""
    with db.transaction() as conn:
        shas = {r[0] for r in conn.execute("SELECT sha256 FROM pinned_images WHERE ref = ?", (ref,))}
        conn.execute("DELETE FROM pins WHERE ref = ?", (ref,))
    return shas


def shas_in_use(candidates: set[str]) -> set[str]:
    """Those of `candidates` that some run's pinned list still holds."""
    marks = ",".join("?" * len(candidates))
    with db.reading() as conn:
        return {r[0] for r in conn.execute(f"SELECT sha256 FROM pinned_images WHERE sha256 IN ({marks})",
                                           list(candidates))}


def every_sha(conn) -> set[str]:
    """Every hash a run's pinned list holds, in the store `conn` opens (a backup's copy)."""
    return {r[0] for r in conn.execute("SELECT DISTINCT sha256 FROM pinned_images")}


def keep_only(conn, owners: set[str]) -> None:
    """In a copy of the store (a class's backup): the pins of `owners`' runs alone."""
    marks = ",".join("?" * len(owners))  # none: NOT IN () keeps nothing
    conn.execute(f"DELETE FROM pins WHERE owner NOT IN ({marks})", sorted(owners))
