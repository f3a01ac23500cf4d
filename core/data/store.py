"""The dataset store: the manifest in SQLite, image bytes in the content store (`content`).

A dataset is a name, its owner, its classes and its images (hash, size, original name). Every
dataset belongs to the owner who made it: listing, reading, adding to, renaming and deleting are
filtered by owner, so another person's dataset name is simply "not found". A dataset can also be
shared read-only with an audience (a class: 'class:ID'); the classroom records who belongs to which
audience (`join_audience`). The same content is stored once per dataset and reported as a duplicate.
Adding images is `intake`; splits are `splits`.
"""
from __future__ import annotations

import difflib
import json
import time
from collections import Counter
from dataclasses import dataclass

from core import db
from core.config import MULTILABEL, SINGLE_LABEL
from core.data import content
from core.data.uploads import clean_class_name
from core.errors import UserError
from core.paths import env_owner

MAX_DATASET_NAME = 80
# Every image of a multi-label dataset points to this class row (the column is NOT NULL); its labels are the
# JSON list in `images.labels`. No cleaned class name is empty, so it never meets a real class.
UNLABELLED = ""


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
    labels: tuple[int, ...] | None = None  # multi-label: 0/1 per class (`label` is then -1); None: one class


@dataclass(frozen=True)
class Dataset:
    """A dataset as one owner sees it: `writable` only for its own."""

    id: int
    name: str
    owner: str
    writable: bool


def join_audience(audience: str, member: str) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT OR IGNORE INTO audience_members (audience, member) VALUES (?, ?)", (audience, member))


def audiences(owner: str) -> list[str]:
    """The audiences (e.g. 'class:ID') an owner belongs to."""
    with db.reading() as conn:
        return [r[0] for r in conn.execute("SELECT audience FROM audience_members WHERE member = ?", (owner,))]


# ---- datasets ------------------------------------------------------------------------------------
def clean_dataset_name(raw: str) -> str:
    name = clean_class_name(raw)[:MAX_DATASET_NAME]
    if not name:
        raise UserError(f"dataset name {raw!r} is empty once cleaned; use letters or digits")
    return name


def create(name: str, owner: str | None = None, source: str = "upload", exist_ok: bool = True,
           task: str = SINGLE_LABEL) -> int:
    name, owner = clean_dataset_name(name), owner or env_owner()
    with db.transaction() as conn:
        row = conn.execute("SELECT id FROM datasets WHERE owner = ? AND name = ?", (owner, name)).fetchone()
        if row:
            if not exist_ok:
                raise UserError(f"a dataset named {name!r} already exists")
            return row["id"]
        return conn.execute("INSERT INTO datasets (owner, name, created, source, task) VALUES (?, ?, ?, ?, ?)",
                            (owner, name, time.time(), source, task)).lastrowid


def task_of(ident: int) -> str:
    """single_label (one class per image) or multilabel (several labels per image, or none)."""
    with db.reading() as conn:
        return conn.execute("SELECT task FROM datasets WHERE id = ?", (ident,)).fetchone()["task"]


def set_task(ident: int, task: str) -> None:
    with db.transaction() as conn:
        conn.execute("UPDATE datasets SET task = ? WHERE id = ?", (task, ident))


def dataset_task(dataset: str, owner: str | None = None) -> str:
    return task_of(find(dataset, owner).id)


def require_single_label(dataset: str, owner: str | None = None, what: str = "this") -> None:
    """Refuse a one-class-per-image tool on a multi-label dataset, saying so (exit 2)."""
    if task_of(find(dataset, owner).id) == MULTILABEL:
        raise UserError(f"dataset {dataset!r} has several labels per image (task multilabel); {what} works on "
                        "one-class-per-image data only")


def find(name: str, owner: str | None = None, write: bool = False) -> Dataset:
    """The dataset `name` as `owner` sees it: their own first, then one shared with them (read-only).
    `write=True` accepts only their own."""
    owner = owner or env_owner()
    with db.reading() as conn:
        row = conn.execute("SELECT id, name, owner FROM datasets WHERE owner = ? AND name = ?", (owner, name)).fetchone()
        if row is None:  # shared with them: readable, and named as read-only when they try to change it
            row = _shared_row(conn, name, owner)
    if row is None:
        raise UserError(_not_found(name, owner, write))
    if write and row["owner"] != owner:
        raise UserError(f"dataset {name!r} is shared with you read-only: make your own to change it")
    return Dataset(row["id"], row["name"], row["owner"], row["owner"] == owner)


def own(name: str, owner: str | None = None) -> Dataset | None:
    """The owner's own dataset called `name`, or None."""
    owner = owner or env_owner()
    with db.reading() as conn:
        row = conn.execute("SELECT id, name FROM datasets WHERE owner = ? AND name = ?", (owner, name)).fetchone()
    return Dataset(row["id"], row["name"], owner, True) if row else None


def _shared_row(conn, name: str, owner: str):
    groups = audiences(owner)
    if not groups:
        return None
    marks = ",".join("?" * len(groups))
    return conn.execute(f"""SELECT d.id, d.name, d.owner FROM datasets d JOIN dataset_shares s ON s.dataset_id = d.id
                            WHERE d.name = ? AND s.audience IN ({marks}) ORDER BY d.created LIMIT 1""",
                        (name, *groups)).fetchone()


def _not_found(name: str, owner: str, write: bool) -> str:
    names = [d["name"] for d in list_datasets(owner) if d["writable"] or not write]
    close = difflib.get_close_matches(name, names, n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"yours: {', '.join(names[:10]) or 'none yet'}"
    return f"no dataset named {name!r} ({hint})"


def dataset_id(name: str, owner: str | None = None) -> int:
    return find(name, owner).id


def name_of(ident: int) -> str:
    with db.reading() as conn:
        return conn.execute("SELECT name FROM datasets WHERE id = ?", (ident,)).fetchone()["name"]


def list_datasets(owner: str | None = None) -> list[dict]:
    """The owner's datasets, then those shared with them (marked `writable: false`)."""
    owner = owner or env_owner()
    groups = audiences(owner)
    marks = ",".join("?" * len(groups)) or "NULL"
    with db.reading() as conn:
        rows = conn.execute(f"""
            SELECT d.name, d.source, d.created, d.owner = ? AS writable, d.task,
                   (SELECT COUNT(*) FROM classes c WHERE c.dataset_id = d.id AND c.name != '') AS classes,
                   (SELECT COUNT(*) FROM images i WHERE i.dataset_id = d.id) AS images
            FROM datasets d WHERE d.owner = ? OR d.id IN (SELECT dataset_id FROM dataset_shares
                                                          WHERE audience IN ({marks}))
            ORDER BY writable DESC, d.created""", (owner, owner, *groups)).fetchall()
    return [{**dict(r), "writable": bool(r["writable"])} for r in rows]


def share(name: str, audience: str, owner: str | None = None) -> None:
    """Make the owner's dataset readable (not writable) by everyone in `audience`."""
    ident = find(name, owner, write=True).id
    with db.transaction() as conn:
        conn.execute("INSERT OR IGNORE INTO dataset_shares (dataset_id, audience) VALUES (?, ?)", (ident, audience))


def shared_with(audience: str) -> list[str]:
    """Names of the datasets shared with an audience."""
    with db.reading() as conn:
        rows = conn.execute("""SELECT d.name FROM datasets d JOIN dataset_shares s ON s.dataset_id = d.id
                               WHERE s.audience = ? ORDER BY d.created""", (audience,))
        return [r[0] for r in rows]


def rename(old: str, new: str, owner: str | None = None) -> str:
    new, dataset = clean_dataset_name(new), find(old, owner, write=True)
    with db.transaction() as conn:
        if conn.execute("SELECT 1 FROM datasets WHERE owner = ? AND name = ? AND id != ?",
                        (dataset.owner, new, dataset.id)).fetchone():
            raise UserError(f"a dataset named {new!r} already exists")
        conn.execute("UPDATE datasets SET name = ? WHERE id = ?", (new, dataset.id))
    return new


def delete(name: str, owner: str | None = None, used_by: list[str] | None = None, force: bool = False) -> set[str]:
    """Remove the dataset's rows; returns its images' hashes (the content store's candidates to remove,
    `removal.collect`). `used_by`: runs whose pinned lists come from it; with any, deleting is refused
    unless forced."""
    dataset = find(name, owner, write=True)
    if used_by and not force:
        raise UserError(f"dataset {name!r} is used by {len(used_by)} run(s): {', '.join(used_by[:10])}"
                        f"{' …' if len(used_by) > 10 else ''}. Delete those runs first, or force the delete: "
                        "the runs keep their own images and stay readable")
    with db.transaction() as conn:
        hashes = {r["sha256"] for r in conn.execute("SELECT sha256 FROM images WHERE dataset_id = ?", (dataset.id,))}
        conn.execute("DELETE FROM datasets WHERE id = ?", (dataset.id,))
    return hashes


def shas_in_use(candidates: set[str]) -> set[str]:
    """Those of `candidates` that some dataset's image still is."""
    marks = ",".join("?" * len(candidates))
    with db.reading() as conn:
        return {r[0] for r in conn.execute(f"SELECT sha256 FROM images WHERE sha256 IN ({marks})", list(candidates))}


def shares_of(dataset_id: int) -> set[str]:
    """The audiences a dataset is shared with."""
    with db.reading() as conn:
        return {r[0] for r in conn.execute("SELECT audience FROM dataset_shares WHERE dataset_id = ?", (dataset_id,))}


def members(audience: str) -> set[str]:
    """The owners that belong to an audience."""
    with db.reading() as conn:
        return {r[0] for r in conn.execute("SELECT member FROM audience_members WHERE audience = ?", (audience,))}


def shared_ids(audience: str) -> list[int]:
    """Ids of the datasets shared with an audience."""
    with db.reading() as conn:
        return [r[0] for r in conn.execute("SELECT dataset_id FROM dataset_shares WHERE audience = ?", (audience,))]


# ---- classes -------------------------------------------------------------------------------------
def add_class(dataset: str, class_name: str, owner: str | None = None) -> str:
    label = clean_class_name(class_name)
    if not label:
        raise UserError(f"class name {class_name!r} is empty once cleaned; use letters or digits")
    ident = find(dataset, owner, write=True).id
    with db.transaction() as conn:
        ensure_class(conn, ident, label)
    return label


def remove_class(dataset: str, class_name: str, owner: str | None = None) -> None:
    """Only a class without images: one left empty would make the dataset untrainable forever."""
    require_single_label(dataset, owner, "removing a class")
    ident = find(dataset, owner, write=True).id
    with db.transaction() as conn:
        row = conn.execute("""SELECT c.id, COUNT(i.id) AS n FROM classes c LEFT JOIN images i ON i.class_id = c.id
                              WHERE c.dataset_id = ? AND c.name = ? GROUP BY c.id""", (ident, class_name)).fetchone()
        if row is None:
            raise UserError(f"dataset {dataset!r} has no class {class_name!r}")
        if row["n"]:
            raise UserError(f"class {class_name!r} still has {row['n']} image(s); remove them first")
        conn.execute("DELETE FROM classes WHERE id = ?", (row["id"],))


def ensure_class(conn, ident: int, label: str) -> int:
    row = conn.execute("SELECT id FROM classes WHERE dataset_id = ? AND name = ?", (ident, label)).fetchone()
    if row:
        return row["id"]
    return conn.execute("INSERT INTO classes (dataset_id, name) VALUES (?, ?)", (ident, label)).lastrowid


# ---- reading -------------------------------------------------------------------------------------
def class_counts_by_id(ident: int) -> dict[str, int]:
    """Images per class; for a multi-label dataset, images per label."""
    if task_of(ident) == MULTILABEL:
        return _label_counts(ident)
    with db.reading() as conn:
        rows = conn.execute("""SELECT c.name, COUNT(i.id) AS n FROM classes c
                               LEFT JOIN images i ON i.class_id = c.id
                               WHERE c.dataset_id = ? GROUP BY c.id ORDER BY c.name""", (ident,)).fetchall()
    return {r["name"]: r["n"] for r in rows}


def _label_counts(ident: int) -> dict[str, int]:
    with db.reading() as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM classes WHERE dataset_id = ? AND name != ? ORDER BY name",
                                            (ident, UNLABELLED))]
        found = Counter(label for r in conn.execute("SELECT labels FROM images WHERE dataset_id = ?", (ident,))
                        for label in json.loads(r[0] or "[]"))
    return {name: found[name] for name in names}


def class_counts(dataset: str, owner: str | None = None) -> dict[str, int]:
    return class_counts_by_id(find(dataset, owner).id)


def class_names(dataset: str, owner: str | None = None) -> list[str]:
    """Classes with at least one image, sorted: their index is the model's label."""
    return [c for c, n in class_counts(dataset, owner).items() if n > 0]


def records_by_id(ident: int) -> list[ImageRecord]:
    if task_of(ident) == MULTILABEL:
        return _labelled_records(ident)
    labels = {name: i for i, name in enumerate(c for c, n in class_counts_by_id(ident).items() if n > 0)}
    with db.reading() as conn:
        rows = conn.execute("""SELECT i.id, i.sha256, c.name AS class_name, i.original, i.width, i.height
                               FROM images i JOIN classes c ON c.id = i.class_id WHERE i.dataset_id = ?
                               ORDER BY i.id""", (ident,)).fetchall()
    return [ImageRecord(r["id"], r["sha256"], labels[r["class_name"]], r["class_name"], None, r["original"],
                        r["width"], r["height"]) for r in rows]


def _labelled_records(ident: int) -> list[ImageRecord]:
    """A multi-label dataset's images: 0/1 per label that has an image (sorted), `class_name` their names."""
    names = [c for c, n in _label_counts(ident).items() if n > 0]
    with db.reading() as conn:
        rows = conn.execute("""SELECT id, sha256, labels, original, width, height FROM images WHERE dataset_id = ?
                               ORDER BY id""", (ident,)).fetchall()
    out = []
    for r in rows:
        on = set(json.loads(r["labels"] or "[]"))
        out.append(ImageRecord(r["id"], r["sha256"], -1, ";".join(n for n in names if n in on), None, r["original"],
                               r["width"], r["height"], tuple(int(n in on) for n in names)))
    return out


def records(dataset: str, owner: str | None = None) -> list[ImageRecord]:
    """Every image of the dataset (labels index `class_names`); splits are `splits.for_spec`'s."""
    return records_by_id(find(dataset, owner).id)


def image_rows(dataset: str, owner: str | None = None) -> list[dict]:
    """Everything the health check needs, as plain rows."""
    ident = find(dataset, owner).id
    with db.reading() as conn:
        rows = conn.execute("""SELECT i.id, i.sha256, i.width, i.height, i.gray, i.phash, i.original, i.labels,
                                      c.name AS class_name FROM images i JOIN classes c ON c.id = i.class_id
                               WHERE i.dataset_id = ? ORDER BY i.id""", (ident,)).fetchall()
    return [dict(r) for r in rows]


def duplicate_rows(dataset: str, owner: str | None = None) -> list[dict]:
    ident = find(dataset, owner).id
    with db.reading() as conn:
        rows = conn.execute("""SELECT d.file, d.class_name, i.original AS duplicate_of FROM duplicates d
                               JOIN images i ON i.id = d.image_id WHERE d.dataset_id = ?""", (ident,)).fetchall()
    return [dict(r) for r in rows]


def read_bytes(sha: str) -> bytes:
    return content.read_bytes(sha)


def check_trainable(dataset: str, owner: str | None = None) -> list[str]:
    """The class names, or a clear "cannot train" message."""
    counts = class_counts(dataset, owner)
    if task_of(find(dataset, owner).id) == MULTILABEL:
        usable = [c for c, n in counts.items() if n > 0]
        if not usable:
            raise UserError(f"cannot train on {dataset!r}: no image carries a label yet")
        return usable
    usable = [c for c, n in counts.items() if n > 0]
    empty = [c for c, n in counts.items() if n == 0]
    if empty:
        raise UserError(f"cannot train on {dataset!r}: class {empty[0]!r} has no images "
                        "(add images or remove the class)")
    if len(usable) < 2:
        found = f"found {len(usable)}: {', '.join(usable)}" if usable else "found none"
        raise UserError(f"cannot train on {dataset!r}: needs at least 2 classes with images ({found})")
    return usable


# ---- a copy of the store (a backup) ------------------------------------------------------------------
def every_sha(conn) -> set[str]:
    """Every hash a dataset's image is, in the store `conn` opens (a backup's copy)."""
    return {r[0] for r in conn.execute("SELECT DISTINCT sha256 FROM images")}


def counts(conn) -> dict:
    return {"datasets": conn.execute("SELECT COUNT(*) FROM datasets").fetchone()[0],
            "images": conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]}


def keep_only(conn, owners: set[str], audience: str, also: set[int]) -> None:
    """In a copy of the store (a class's backup): the datasets of `owners`, those shared with `audience` and
    `also` (its held-out set); their classes, images, splits and edits go with the others (cascade)."""
    owned, extra = ",".join("?" * len(owners)), ",".join("?" * len(also))  # SQLite: NOT IN () is true
    conn.execute(f"""DELETE FROM datasets WHERE owner NOT IN ({owned}) AND id NOT IN ({extra})
                     AND id NOT IN (SELECT dataset_id FROM dataset_shares WHERE audience = ?)""",
                 (*sorted(owners), *sorted(also), audience))
    conn.execute("DELETE FROM dataset_shares WHERE audience != ?", (audience,))
    conn.execute("DELETE FROM audience_members WHERE audience != ?", (audience,))
