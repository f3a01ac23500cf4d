"""The dataset store: content-addressed image files under the data home, a manifest in SQLite.

A dataset is a name, its classes and its images (hash, size, original name, split). Image bytes
are kept as uploaded (after validation) in `images/<hash[:2]>/<hash>`; the same content is stored
once per dataset and reported as a duplicate. Splits are stratified, seeded and stored.
"""
from __future__ import annotations

import hashlib
import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from core import db, images
from core.errors import UserError
from core.ingest import Entry, Item, Rejection, clean_class_name
from core.paths import subdir

SPLITS = ("train", "val", "test")
DEFAULT_VAL, DEFAULT_TEST, DEFAULT_SEED = 0.15, 0.15, 0
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


@dataclass
class IngestReport:
    dataset: str
    stored: int = 0
    classes: dict[str, int] = field(default_factory=dict)  # images per class, whole dataset
    rejected: list[dict] = field(default_factory=list)  # {"file", "reason"}
    duplicates: list[dict] = field(default_factory=list)  # {"file", "duplicate_of", "class"}
    empty_classes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


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
        _class_id(conn, ident, label)
    return label


def _class_id(conn, ident: int, label: str) -> int:
    row = conn.execute("SELECT id FROM classes WHERE dataset_id = ? AND name = ?", (ident, label)).fetchone()
    if row:
        return row["id"]
    return conn.execute("INSERT INTO classes (dataset_id, name) VALUES (?, ?)", (ident, label)).lastrowid


# ---- ingestion -----------------------------------------------------------------------------------
def image_path(sha: str) -> Path:
    return subdir("images") / sha[:2] / sha


def ingest(dataset: str, entries: Iterable[Entry], source: str = "upload",
           progress: Callable[[int, int], None] | None = None) -> IngestReport:
    """Validate and store every item; rejections carry their file name and reason. Nothing valid
    is lost because of a bad neighbour, and no input may crash this loop."""
    entries = list(entries)
    ident = create(dataset, source)
    name = _name_of(ident)
    report = IngestReport(name)
    for done, entry in enumerate(entries, start=1):
        if isinstance(entry, Rejection):
            report.rejected.append({"file": entry.file, "reason": entry.reason})
        else:
            _ingest_one(ident, entry, report)
        if progress:
            progress(done, len(entries))
    _finish(ident, report, {e.class_name for e in entries if isinstance(e, Item)})
    return report


def _name_of(ident: int) -> str:
    with db.reading() as conn:
        return conn.execute("SELECT name FROM datasets WHERE id = ?", (ident,)).fetchone()["name"]


def _ingest_one(ident: int, item: Item, report: IngestReport) -> None:
    try:
        picture = images.decode(item.data)
        facts = _facts(item.data, picture)
    except images.ImageRejected as exc:
        report.rejected.append({"file": item.file, "reason": str(exc)})
        return
    except Exception as exc:  # e.g. MemoryError on a hostile file: reject it, keep going
        report.rejected.append({"file": item.file, "reason": f"could not be read ({type(exc).__name__})"})
        return
    _store(ident, item, facts, report)


def _facts(data: bytes, picture) -> dict:
    from core.health import perceptual_hash, is_grayscale

    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "width": picture.width,
            "height": picture.height, "gray": int(is_grayscale(picture)), "phash": perceptual_hash(picture)}


def _store(ident: int, item: Item, facts: dict, report: IngestReport) -> None:
    path = image_path(facts["sha256"])
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(item.data)
        tmp.replace(path)  # atomic: a crash never leaves half a file under the final name
    with db.transaction() as conn:
        existing = conn.execute("""SELECT i.id, i.original, c.name FROM images i JOIN classes c ON c.id = i.class_id
                                   WHERE i.dataset_id = ? AND i.sha256 = ?""", (ident, facts["sha256"])).fetchone()
        if existing:
            conn.execute("INSERT INTO duplicates (dataset_id, file, class_name, image_id) VALUES (?, ?, ?, ?)",
                         (ident, item.file, item.class_name, existing["id"]))
            report.duplicates.append({"file": item.file, "duplicate_of": existing["original"],
                                      "class": existing["name"]})
            return
        class_id = _class_id(conn, ident, item.class_name)
        conn.execute("""INSERT INTO images (dataset_id, class_id, sha256, bytes, width, height, gray, phash,
                        original, added) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                     (ident, class_id, facts["sha256"], facts["bytes"], facts["width"], facts["height"],
                      facts["gray"], facts["phash"], item.file, time.time()))
    report.stored += 1


def _finish(ident: int, report: IngestReport, offered: set[str]) -> None:
    """Counts for the whole dataset; classes left without a valid image are named, including
    classes whose every file was rejected (those are not created)."""
    counts = class_counts_by_id(ident)
    report.classes = counts
    report.empty_classes = sorted({c for c, n in counts.items() if n == 0} | (offered - set(counts)))
    params = _split_params(ident)
    assign_splits(report.dataset, *params)


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


# ---- splits --------------------------------------------------------------------------------------
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
    ident = dataset_id(dataset)
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
    if _split_params(dataset_id(dataset)) != (val_fraction, test_fraction, seed):
        return assign_splits(dataset, val_fraction, test_fraction, seed)
    return split_counts(dataset)


def _split_params(ident: int) -> tuple[float, float, int]:
    with db.reading() as conn:
        row = conn.execute("SELECT split_params FROM datasets WHERE id = ?", (ident,)).fetchone()
    if row and row["split_params"]:
        val, test, seed = json.loads(row["split_params"])
        return float(val), float(test), int(seed)
    return DEFAULT_VAL, DEFAULT_TEST, DEFAULT_SEED


def split_counts(dataset: str) -> dict[str, int]:
    with db.reading() as conn:
        rows = conn.execute("SELECT split, COUNT(*) AS n FROM images WHERE dataset_id = ? GROUP BY split",
                            (dataset_id(dataset),)).fetchall()
    counts = {s: 0 for s in SPLITS}
    counts.update({r["split"]: r["n"] for r in rows if r["split"]})
    return counts
