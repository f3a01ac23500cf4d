"""The cleaner: relabel, delete or keep one image of a dataset, each change recorded with an undo.

Label errors sit among a model's highest-loss images (Evaluate shows them). A change applies to the
dataset, so the next run trains on it; finished runs keep the lists and labels they pinned at submit
(`pins`). Only the dataset's owner changes it (a class's published dataset is read-only to students).
A deleted image's row, splits included, is kept in its edit, so an undo restores it exactly (same
id, same split) and the content store keeps its bytes meanwhile (`content.collect` counts it).
A class left without images by a change is removed, and comes back with the undo.
"""
from __future__ import annotations

import json
import time

from core import db
from core.data import store
from core.data.uploads import clean_class_name
from core.errors import UserError
from core.paths import env_owner

ACTIONS = ("relabel", "delete", "keep")
CLEANER = "the cleaner (it relabels an image's one class)"


def relabel(dataset: str, image_id: int, new_class: str, owner: str | None = None) -> dict:
    store.require_single_label(dataset, owner, CLEANER)
    ident = store.find(dataset, owner or env_owner(), write=True).id
    label = clean_class_name(new_class)
    if not label:
        raise UserError(f"class name {new_class!r} is empty once cleaned; use letters or digits")
    with db.transaction() as conn:
        image = _image(conn, ident, image_id, dataset)
        if image["class_name"] == label:
            raise UserError(f"image {image_id} ({image['original']}) is already in class {label!r}")
        conn.execute("UPDATE images SET class_id = ? WHERE id = ?", (store.ensure_class(conn, ident, label), image_id))
        _drop_if_empty(conn, image["class_id"])
        return _record(conn, ident, image, "relabel", new_class=label)


def delete(dataset: str, image_id: int, owner: str | None = None) -> dict:
    store.require_single_label(dataset, owner, CLEANER)
    ident = store.find(dataset, owner or env_owner(), write=True).id
    with db.transaction() as conn:
        image = _image(conn, ident, image_id, dataset)
        row = dict(conn.execute("SELECT * FROM images WHERE id = ?", (image_id,)).fetchone())
        splits = [dict(r) for r in conn.execute("SELECT key, split FROM image_splits WHERE image_id = ?", (image_id,))]
        conn.execute("DELETE FROM images WHERE id = ?", (image_id,))
        _drop_if_empty(conn, image["class_id"])
        return _record(conn, ident, image, "delete", saved={"image": row, "splits": splits})


def keep(dataset: str, image_id: int, owner: str | None = None) -> dict:
    """Looked at and right as it is: the cleaner stops offering it."""
    ident = store.find(dataset, owner or env_owner(), write=True).id
    with db.transaction() as conn:
        return _record(conn, ident, _image(conn, ident, image_id, dataset), "keep")


def undo(dataset: str, owner: str | None = None, edit_id: int | None = None) -> dict:
    """Reverse the latest change (or `edit_id`) that is not undone yet."""
    ident = store.find(dataset, owner or env_owner(), write=True).id
    with db.transaction() as conn:
        query = "SELECT * FROM image_edits WHERE dataset_id = ? AND undone IS NULL"
        args: list = [ident]
        if edit_id is not None:
            query, args = query + " AND id = ?", [*args, edit_id]
        edit = conn.execute(query + " ORDER BY id DESC LIMIT 1", args).fetchone()
        if edit is None:
            raise UserError(f"dataset {dataset!r} has no change to undo" if edit_id is None
                            else f"dataset {dataset!r} has no change {edit_id} to undo")
        _reverse(conn, ident, dict(edit))
        conn.execute("UPDATE image_edits SET undone = ? WHERE id = ?", (time.time(), edit["id"]))
    return {**_public(dict(edit)), "undone": True}


def history(dataset: str, owner: str | None = None) -> list[dict]:
    """Every change, newest first, with whether it was undone."""
    ident = store.find(dataset, owner or env_owner()).id
    with db.reading() as conn:
        rows = conn.execute("SELECT * FROM image_edits WHERE dataset_id = ? ORDER BY id DESC", (ident,)).fetchall()
    return [_public(dict(r)) for r in rows]


def awaiting_undo(candidates: set[str]) -> set[str]:
    """Those of `candidates` that a deletion still in force keeps (its undo needs the bytes)."""
    marks = ",".join("?" * len(candidates))
    with db.reading() as conn:
        return {r[0] for r in conn.execute(f"""SELECT sha256 FROM image_edits WHERE action = 'delete' AND undone IS NULL
                                               AND sha256 IN ({marks})""", list(candidates))}


def every_awaiting_undo(conn) -> set[str]:
    """Every hash a deletion still in force keeps, in the store `conn` opens (a backup's copy)."""
    return {r[0] for r in conn.execute("SELECT sha256 FROM image_edits WHERE action = 'delete' AND undone IS NULL")}


def edited_shas(dataset_id: int) -> set[str]:
    """Every image a change of this dataset touched, deleted ones included (their rows are gone from
    the dataset; their bytes waited for an undo)."""
    with db.reading() as conn:
        return {r[0] for r in conn.execute("SELECT sha256 FROM image_edits WHERE dataset_id = ?", (dataset_id,))}


def handled(dataset_id: int) -> set[int]:
    """Images with a change in force: the cleaner does not offer them again."""
    with db.reading() as conn:
        rows = conn.execute("SELECT image_id FROM image_edits WHERE dataset_id = ? AND undone IS NULL", (dataset_id,))
        return {r[0] for r in rows}


# ---- inside a transaction --------------------------------------------------------------------------
def _image(conn, ident: int, image_id: int, dataset: str) -> dict:
    row = conn.execute("""SELECT i.id, i.sha256, i.original, i.class_id, c.name AS class_name FROM images i
                          JOIN classes c ON c.id = i.class_id WHERE i.id = ? AND i.dataset_id = ?""",
                       (image_id, ident)).fetchone()
    if row is None:
        raise UserError(f"dataset {dataset!r} has no image {image_id} (deleted, or from another dataset)")
    return dict(row)


def _drop_if_empty(conn, class_id: int) -> None:
    if not conn.execute("SELECT 1 FROM images WHERE class_id = ? LIMIT 1", (class_id,)).fetchone():
        conn.execute("DELETE FROM classes WHERE id = ?", (class_id,))


def _record(conn, ident: int, image: dict, action: str, new_class: str | None = None, saved: dict | None = None) -> dict:
    cursor = conn.execute("""INSERT INTO image_edits (dataset_id, image_id, sha256, action, old_class, new_class, saved,
                             created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                          (ident, image["id"], image["sha256"], action, image["class_name"], new_class,
                           json.dumps(saved) if saved else None, time.time()))
    return {"edit": cursor.lastrowid, "action": action, "image_id": image["id"], "original": image["original"],
            "old_class": image["class_name"], "new_class": new_class}


def _reverse(conn, ident: int, edit: dict) -> None:
    if edit["action"] == "relabel":
        if not conn.execute("SELECT 1 FROM images WHERE id = ? AND dataset_id = ?", (edit["image_id"], ident)).fetchone():
            raise UserError(f"image {edit['image_id']} is no longer in the dataset; undo its deletion first")
        moved_from = conn.execute("SELECT class_id FROM images WHERE id = ?", (edit["image_id"],)).fetchone()[0]
        conn.execute("UPDATE images SET class_id = ? WHERE id = ?",
                     (store.ensure_class(conn, ident, edit["old_class"]), edit["image_id"]))
        _drop_if_empty(conn, moved_from)
    elif edit["action"] == "delete":
        saved = json.loads(edit["saved"])
        image = saved["image"]
        if conn.execute("SELECT 1 FROM images WHERE dataset_id = ? AND sha256 = ?", (ident, image["sha256"])).fetchone():
            raise UserError(f"{image['original']} is back in the dataset already (added again since); nothing to undo")
        image["class_id"] = store.ensure_class(conn, ident, edit["old_class"])
        if conn.execute("SELECT 1 FROM images WHERE id = ?", (image["id"],)).fetchone():
            del image["id"]  # SQLite gave the freed id to a newer image: this one comes back under a new id
        columns = ", ".join(image)
        cursor = conn.execute(f"INSERT INTO images ({columns}) VALUES ({', '.join('?' * len(image))})",
                              list(image.values()))
        conn.executemany("INSERT OR IGNORE INTO image_splits (image_id, key, split) VALUES (?, ?, ?)",
                         [(cursor.lastrowid, s["key"], s["split"]) for s in saved["splits"]])


def _public(edit: dict) -> dict:
    return {"edit": edit["id"], "action": edit["action"], "image_id": edit["image_id"], "sha256": edit["sha256"],
            "old_class": edit["old_class"], "new_class": edit["new_class"], "created": edit["created"],
            "undone": edit["undone"] is not None}
