"""A run's own image lists, fixed when it is submitted: the classes and, per split, each image's id,
hash, class and label. Evaluate, Predict's test split, export verification, resume and the
companions all read these, so adding images to a dataset (or deleting it) never changes what a
finished run was trained and judged on; the content store keeps every pinned file."""
from __future__ import annotations

import json
import time

from core import db
from core.data.splits import SPLITS, Splits
from core.data import store
from core.data.store import ImageRecord

db.schema("""
CREATE TABLE IF NOT EXISTS pins (
    ref TEXT PRIMARY KEY, dataset_id INTEGER REFERENCES datasets(id) ON DELETE SET NULL, dataset TEXT NOT NULL,
    owner TEXT NOT NULL, classes TEXT NOT NULL, created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS pins_by_dataset ON pins(dataset_id);
CREATE TABLE IF NOT EXISTS pinned_images (
    ref TEXT NOT NULL REFERENCES pins(ref) ON DELETE CASCADE, split TEXT NOT NULL, position INTEGER NOT NULL,
    image_id INTEGER NOT NULL, sha256 TEXT NOT NULL, class_name TEXT NOT NULL, label INTEGER NOT NULL,
    original TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL, PRIMARY KEY (ref, split, position)
);
CREATE INDEX IF NOT EXISTS pinned_by_sha ON pinned_images(sha256);
""")


def pin(ref: str, dataset_id: int, dataset: str, owner: str, lists: Splits) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT INTO pins (ref, dataset_id, dataset, owner, classes, created) VALUES (?, ?, ?, ?, ?, ?)",
                     (ref, dataset_id, dataset, owner, json.dumps(lists.classes), time.time()))
        conn.executemany(
            """INSERT INTO pinned_images (ref, split, position, image_id, sha256, class_name, label, original, width,
               height) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [(ref, split, i, r.id, r.sha256, r.class_name, r.label, r.original, r.width, r.height)
             for split in SPLITS for i, r in enumerate(getattr(lists, split))])


def load(ref: str) -> Splits | None:
    with db.reading() as conn:
        head = conn.execute("SELECT classes FROM pins WHERE ref = ?", (ref,)).fetchone()
        if head is None:
            return None
        rows = conn.execute("SELECT * FROM pinned_images WHERE ref = ? ORDER BY split, position", (ref,)).fetchall()
    by_split: dict[str, list[ImageRecord]] = {s: [] for s in SPLITS}
    for r in rows:
        by_split[r["split"]].append(ImageRecord(r["image_id"], r["sha256"], r["label"], r["class_name"], r["split"],
                                                r["original"], r["width"], r["height"]))
    return Splits(json.loads(head["classes"]), by_split["train"], by_split["val"], by_split["test"])


def hashes(ref: str) -> dict[str, list[str]]:
    """The pinned lists as content hashes per split (what `run --json` reports)."""
    lists = load(ref)
    return {s: [r.sha256 for r in getattr(lists, s)] for s in SPLITS} if lists else {s: [] for s in SPLITS}


def refs_using(dataset_id: int) -> list[str]:
    with db.reading() as conn:
        return [r[0] for r in conn.execute("SELECT ref FROM pins WHERE dataset_id = ? ORDER BY created", (dataset_id,))]


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


def delete_dataset(name: str, owner: str | None = None, force: bool = False) -> dict:
    """Delete a dataset unless runs pinned images from it; forced, those runs keep their images."""
    return store.delete(name, owner, used_by=refs_using(store.find(name, owner, write=True).id), force=force)
