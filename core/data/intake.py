"""Adding images to a dataset: validate each item, check it fits the owner's and their class's limits and
the server's free-space floor (`quotas`), store its bytes once by content hash, record it in the manifest,
and report every rejection and duplicate with the file's name."""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

from core import db
from core.config import MULTILABEL, SINGLE_LABEL
from core.data import content, quotas, splits, store
from core.data.fingerprint import is_grayscale, perceptual_hash
from core.data.images import ImageRejected, decode
from core.data.uploads import Entry, Item, Rejection
from core.errors import LimitReached, UserError


@dataclass
class IngestReport:
    dataset: str
    stored: int = 0
    classes: dict[str, int] = field(default_factory=dict)  # images per class, whole dataset
    rejected: list[dict] = field(default_factory=list)  # {"file", "reason"}
    duplicates: list[dict] = field(default_factory=list)  # {"file", "duplicate_of", "class"}
    empty_classes: list[str] = field(default_factory=list)
    limit: str | None = None  # why storing stopped (a limit or the free-space floor, naming the file); None: it did not
    task: str = SINGLE_LABEL  # multilabel: `classes` counts images per label; duplicates add their labels

    def to_dict(self) -> dict:
        return asdict(self)



def ingest(dataset: str, entries: Iterable[Entry], source: str = "upload",
           progress: Callable[[int, int], None] | None = None, owner: str | None = None,
           task: str | None = None) -> IngestReport:
    """Validate and store every item into the owner's dataset (created if new); rejections carry
    their file name and reason. Nothing valid is lost because of a bad neighbour, no input may crash
    this loop, and an ingest that stores nothing leaves no new empty dataset behind. Below the free-space
    floor nothing starts (LimitReached); a file that crosses a limit is refused by name, with the rest,
    and what was stored before it stays (`report.limit` says why).
    `task`: a new dataset's (default single_label); an existing one keeps its own and refuses another. Items with
    labels (a labels CSV) need a multi-label dataset; in one, a class-folder item's folder is its one label, and
    the same picture in several folders is one image with all their labels."""
    entries = list(entries)
    quotas.check_free(0, "Adding images")
    room = quotas.budget(owner)
    existed = store.own(store.clean_dataset_name(dataset), owner)
    task = _task(existed, task, entries)
    ident = existed.id if existed else store.create(dataset, owner, source, task=task)
    report = IngestReport(store.name_of(ident), task=task)
    if task == MULTILABEL:
        entries = [dataclasses.replace(e, labels=(e.class_name,)) if isinstance(e, Item) and e.labels is None else e
                   for e in entries]
    try:
        _each(ident, entries, report, room, progress)
        _finish(ident, report, {e.class_name for e in entries if isinstance(e, Item)})
    except BaseException:
        if existed is None and report.stored == 0:
            with contextlib.suppress(Exception):  # a full disk may refuse this too; the error raised says why
                store.delete(report.dataset, owner)
        raise
    if existed is None and report.stored == 0:
        store.delete(report.dataset, owner)
    return report


def _task(existed: store.Dataset | None, asked: str | None, entries: list[Entry]) -> str:
    labelled = any(isinstance(e, Item) and e.labels is not None for e in entries)
    asked = asked or (MULTILABEL if labelled else None)
    if existed is None:
        return asked or SINGLE_LABEL
    task = store.task_of(existed.id)
    if asked and asked != task and not any(store.class_counts_by_id(existed.id).values()):
        store.set_task(existed.id, asked)  # an empty dataset (just created) takes the task of its first images
        return asked
    if asked and asked != task:
        kind = "several labels per image" if task == MULTILABEL else "one class per image"
        raise UserError(f"dataset {existed.name!r} holds {kind} (task {task}); these images are for a {asked} "
                        "dataset: give another --name")
    return task


def _each(ident: int, entries: list[Entry], report: IngestReport, room: quotas.Budget, progress) -> None:
    for done, entry in enumerate(entries, start=1):
        if isinstance(entry, Rejection):
            report.rejected.append({"file": entry.file, "reason": entry.reason})
        elif report.limit:
            report.rejected.append({"file": entry.file, "reason": "not stored: a limit was reached before it"})
        else:
            _ingest_one(ident, entry, report, room)
        if progress:
            progress(done, len(entries))


def _ingest_one(ident: int, item: Item, report: IngestReport, room: quotas.Budget) -> None:
    try:
        picture = decode(item.data)
        facts = _facts(item.data, picture)
    except ImageRejected as exc:
        report.rejected.append({"file": item.file, "reason": str(exc)})
        return
    except Exception as exc:  # e.g. MemoryError on a hostile file: reject it, keep going
        report.rejected.append({"file": item.file, "reason": f"could not be read ({type(exc).__name__})"})
        return
    try:
        _store(ident, item, facts, report, room)
    except LimitReached as exc:  # this file and the rest are refused; what was stored before stays
        report.rejected.append({"file": item.file, "reason": str(exc)})
        report.limit = str(exc)


def _facts(data: bytes, picture) -> dict:
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "width": picture.width,
            "height": picture.height, "gray": int(is_grayscale(picture)), "phash": perceptual_hash(picture)}


def _store(ident: int, item: Item, facts: dict, report: IngestReport, room: quotas.Budget) -> None:
    if not _same_content(ident, facts["sha256"]):  # a duplicate adds no image: no limit to check
        room.admit(item.file, facts["bytes"])
    content.write(facts["sha256"], item.data)
    with db.transaction() as conn:
        existing = _same_content(ident, facts["sha256"], conn)
        if existing:
            conn.execute("INSERT INTO duplicates (dataset_id, file, class_name, image_id) VALUES (?, ?, ?, ?)",
                         (ident, item.file, item.class_name, existing["id"]))
            report.duplicates.append({"file": item.file, "duplicate_of": existing["original"],
                                      "class": existing["name"], **_more_labels(conn, ident, existing, item)})
            return
        class_id = store.ensure_class(conn, ident, store.UNLABELLED if item.labels is not None else item.class_name)
        conn.execute("""INSERT INTO images (dataset_id, class_id, sha256, bytes, width, height, gray, phash,
                        original, added, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                     (ident, class_id, facts["sha256"], facts["bytes"], facts["width"], facts["height"],
                      facts["gray"], facts["phash"], item.file, time.time(), _labels_json(conn, ident, item.labels)))
    content.write(facts["sha256"], item.data)  # a concurrent collect may have seen the file unreferenced
    report.stored += 1


def _labels_json(conn, ident: int, labels: tuple[str, ...] | None) -> str | None:
    """A multi-label image's labels as stored (sorted names, each with its class row); None: one class."""
    if labels is None:
        return None
    for label in labels:
        store.ensure_class(conn, ident, label)
    return json.dumps(sorted(set(labels)))


def _more_labels(conn, ident: int, existing, item: Item) -> dict:
    """The same picture again in a multi-label dataset (another label folder, another CSV row): one image with
    the labels of both. Returns {"labels": all of them} for the duplicate's report."""
    if item.labels is None:
        return {}
    merged = sorted(set(json.loads(existing["labels"] or "[]")) | set(item.labels))
    conn.execute("UPDATE images SET labels = ? WHERE id = ?", (_labels_json(conn, ident, tuple(merged)), existing["id"]))
    return {"labels": merged}


def _same_content(ident: int, sha: str, conn=None):
    """The dataset's image with this content (id, original, class name, labels), or None."""
    if conn is None:
        with db.reading() as reader:
            return _same_content(ident, sha, reader)
    return conn.execute("""SELECT i.id, i.original, c.name, i.labels FROM images i JOIN classes c ON c.id = i.class_id
                           WHERE i.dataset_id = ? AND i.sha256 = ?""", (ident, sha)).fetchone()


def _finish(ident: int, report: IngestReport, offered: set[str]) -> None:
    """Counts for the whole dataset; classes left without a valid image are named, including
    classes whose every file was rejected (those are not created)."""
    counts = store.class_counts_by_id(ident)
    report.classes = counts
    report.empty_classes = sorted({c for c, n in counts.items() if n == 0} | (offered - set(counts) - {""}))
    splits.refresh(ident)
