"""The dataset store: content-addressed image files under the data home, a manifest in SQLite.

A dataset is a name, its classes and its images (hash, size, original name, split). Image bytes
are kept as uploaded (after validation) in `images/<hash[:2]>/<hash>`; the same content is stored
once per dataset and reported as a duplicate. Adding images is `data.ingest`; splits are `data.splits`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from core import db
from core.data.uploads import clean_class_name
from core.errors import UserError
from core.paths import subdir

MAX_DATASET_NAME = 80

db.schema("""
CREATE TABLE IF NOT EXISTS datasets (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created REAL NOT NULL,
    source TEXT NOT NULL DEFAULT 'upload', split_params TEXT
);
CREATE TABLE IF NOT EXISTS classes (
    id INTEGER PRIMARY KEY, dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    name TEXT NOT NULL, UNIQUE (dataset_id, name)
);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY, dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    class_id INTEGER NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL, bytes INTEGER NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL,
    gray INTEGER NOT NULL, phash TEXT NOT NULL, original TEXT NOT NULL, split TEXT, added REAL NOT NULL,
    UNIQUE (dataset_id, sha256)
);
CREATE INDEX IF NOT EXISTS images_by_class ON images(class_id);
CREATE TABLE IF NOT EXISTS duplicates (
    id INTEGER PRIMARY KEY, dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    file TEXT NOT NULL, class_name TEXT NOT NULL, image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
""")


@dataclass(frozen=True)
class ImageRecord:
    id: int
    sha256: str
    label: int
    class_name: str
    split: str | None
    original: str
    width: int
    height: int


# ---- datasets ------------------------------------------------------------------------------------
def clean_dataset_name(raw: str) -> str:
    name = clean_class_name(raw)[:MAX_DATASET_NAME]
    if not name:
        raise UserError(f"dataset name {raw!r} is empty once cleaned; use letters or digits")
    return name


def create(name: str, source: str = "upload", exist_ok: bool = True) -> int:
    name = clean_dataset_name(name)
    with db.transaction() as conn:
        row = conn.execute("SELECT id FROM datasets WHERE name = ?", (name,)).fetchone()
        if row:
            if not exist_ok:
                raise UserError(f"a dataset named {name!r} already exists")
            return row["id"]
        return conn.execute("INSERT INTO datasets (name, created, source) VALUES (?, ?, ?)",
                            (name, time.time(), source)).lastrowid


def name_of(ident: int) -> str:
    with db.reading() as conn:
        return conn.execute("SELECT name FROM datasets WHERE id = ?", (ident,)).fetchone()["name"]


def dataset_id(name: str) -> int:
    with db.reading() as conn:
        row = conn.execute("SELECT id FROM datasets WHERE name = ?", (name,)).fetchone()
    if row is None:
        known = ", ".join(d["name"] for d in list_datasets()[:10]) or "none yet"
        raise UserError(f"no dataset named {name!r} (datasets: {known})")
    return row["id"]


def list_datasets() -> list[dict]:
    with db.reading() as conn:
        rows = conn.execute("""
            SELECT d.name, d.source, d.created,
                   (SELECT COUNT(*) FROM classes c WHERE c.dataset_id = d.id) AS classes,
                   (SELECT COUNT(*) FROM images i WHERE i.dataset_id = d.id) AS images
            FROM datasets d ORDER BY d.created""").fetchall()
    return [dict(r) for r in rows]


def rename(old: str, new: str) -> str:
    new = clean_dataset_name(new)
    ident = dataset_id(old)
    with db.transaction() as conn:
        if conn.execute("SELECT 1 FROM datasets WHERE name = ? AND id != ?", (new, ident)).fetchone():
            raise UserError(f"a dataset named {new!r} already exists")
        conn.execute("UPDATE datasets SET name = ? WHERE id = ?", (new, ident))
    return new


def delete(name: str) -> int:
    """Remove the dataset's rows, and image files no other dataset uses. Returns images removed."""
    ident = dataset_id(name)
    with db.transaction() as conn:
        hashes = [r["sha256"] for r in conn.execute("SELECT sha256 FROM images WHERE dataset_id = ?", (ident,))]
        conn.execute("DELETE FROM datasets WHERE id = ?", (ident,))
        still_used = {r["sha256"] for r in conn.execute(
            f"SELECT sha256 FROM images WHERE sha256 IN ({','.join('?' * len(hashes))})", hashes)} if hashes else set()
    for sha in set(hashes) - still_used:
        image_path(sha).unlink(missing_ok=True)
    return len(hashes)


def add_class(dataset: str, class_name: str) -> str:
    label = clean_class_name(class_name)
    if not label:
        raise UserError(f"class name {class_name!r} is empty once cleaned; use letters or digits")
    ident = dataset_id(dataset)
    with db.transaction() as conn:
        ensure_class(conn, ident, label)
    return label


def ensure_class(conn, ident: int, label: str) -> int:
    row = conn.execute("SELECT id FROM classes WHERE dataset_id = ? AND name = ?", (ident, label)).fetchone()
    if row:
        return row["id"]
    return conn.execute("INSERT INTO classes (dataset_id, name) VALUES (?, ?)", (ident, label)).lastrowid


# ---- reading -------------------------------------------------------------------------------------
def class_counts_by_id(ident: int) -> dict[str, int]:
    with db.reading() as conn:
        rows = conn.execute("""SELECT c.name, COUNT(i.id) AS n FROM classes c
                               LEFT JOIN images i ON i.class_id = c.id
                               WHERE c.dataset_id = ? GROUP BY c.id ORDER BY c.name""", (ident,)).fetchall()
    return {r["name"]: r["n"] for r in rows}


def class_counts(dataset: str) -> dict[str, int]:
    return class_counts_by_id(dataset_id(dataset))


def class_names(dataset: str) -> list[str]:
    """Classes with at least one image, sorted: their index is the model's label."""
    return [c for c, n in class_counts(dataset).items() if n > 0]


def records(dataset: str, split: str | None = None) -> list[ImageRecord]:
    ident = dataset_id(dataset)
    labels = {name: i for i, name in enumerate(class_names(dataset))}
    query = """SELECT i.id, i.sha256, c.name AS class_name, i.split, i.original, i.width, i.height
               FROM images i JOIN classes c ON c.id = i.class_id WHERE i.dataset_id = ?"""
    args: list = [ident]
    if split:
        query += " AND i.split = ?"
        args.append(split)
    with db.reading() as conn:
        rows = conn.execute(query + " ORDER BY i.id", args).fetchall()
    return [ImageRecord(r["id"], r["sha256"], labels[r["class_name"]], r["class_name"], r["split"],
                        r["original"], r["width"], r["height"]) for r in rows]


def image_rows(dataset: str) -> list[dict]:
    """Everything the health check needs, as plain rows."""
    ident = dataset_id(dataset)
    with db.reading() as conn:
        rows = conn.execute("""SELECT i.id, i.sha256, i.width, i.height, i.gray, i.phash, i.split, i.original,
                                      c.name AS class_name FROM images i JOIN classes c ON c.id = i.class_id
                               WHERE i.dataset_id = ? ORDER BY i.id""", (ident,)).fetchall()
    return [dict(r) for r in rows]


def duplicate_rows(dataset: str) -> list[dict]:
    ident = dataset_id(dataset)
    with db.reading() as conn:
        rows = conn.execute("""SELECT d.file, d.class_name, i.original AS duplicate_of FROM duplicates d
                               JOIN images i ON i.id = d.image_id WHERE d.dataset_id = ?""", (ident,)).fetchall()
    return [dict(r) for r in rows]


def read_bytes(sha: str) -> bytes:
    return image_path(sha).read_bytes()


def check_trainable(dataset: str) -> list[str]:
    """The class names, or a clear "cannot train" message."""
    counts = class_counts(dataset)
    usable = [c for c, n in counts.items() if n > 0]
    empty = [c for c, n in counts.items() if n == 0]
    if empty:
        raise UserError(f"cannot train on {dataset!r}: class {empty[0]!r} has no images "
                        "(add images or remove the class)")
    if len(usable) < 2:
        found = f"found {len(usable)}: {', '.join(usable)}" if usable else "found none"
        raise UserError(f"cannot train on {dataset!r}: needs at least 2 classes with images ({found})")
    return usable


def image_path(sha: str) -> Path:
    return subdir("images") / sha[:2] / sha
