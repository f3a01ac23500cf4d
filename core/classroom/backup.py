"""`python -m core backup`: the server's state (or one class's) in one archive, taken while it runs.

The store is copied with SQLite's online backup API (a consistent snapshot, however busy the server is);
in that copy no process holds a job, so running jobs become interrupted (resumable from their last
checkpoint). A class's backup then keeps only that class, its students' datasets, runs and drafts, the
datasets published to it and its held-out set, and is vacuumed so nothing of anyone else stays in the
file. Then come the content files the copy's rows reference (datasets' images, runs' pinned lists,
deletions that can still be undone) and the runs' folders. Files are immutable or replaced atomically, so
each is whole; a file removed between the snapshot and its copy (a run deleted meanwhile) makes the backup
start again, up to three times, and is named as missing after that.

The archive is a tar: `transferlab.db`, `images/<hash[:2]>/<hash>`, `runs/<id>/...`, and last
`manifest.json` (format, version, schema version, created, scope, counts, and each member's SHA-256 and
size), which `restore` checks before it writes anything.
"""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import io
import json
import os
import sqlite3
import tarfile
import tempfile
import time
from pathlib import Path

from core import db
from core.classroom import classes
from core.data import cleaner, content, pins, quotas, store as datasets
from core.errors import UserError
from core.paths import run_dir
from core.runs import admission, drafts, leases, store
from core.serving import holdouts

FORMAT, VERSION = "transferlab-backup", 1
MANIFEST, DATABASE = "manifest.json", "transferlab.db"
ATTEMPTS = 3
FIRST = ("progress.json",)  # a run folder's progress first: the weights copied after it are as new or newer


def backup(out: str | os.PathLike, class_id: str | None = None, key: str | None = None) -> dict:
    """Write the archive to `out` (through `out.part`, renamed when whole); returns what `--json` prints."""
    started, out = time.monotonic(), Path(out).expanduser().resolve()
    if class_id is not None:
        classes.authorize(class_id, key)
    if not out.parent.is_dir():
        raise UserError(f"{out.parent} is not a folder: choose where the backup goes with --out")
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".transferlab-backup-") as work:
        for attempt in range(1, ATTEMPTS + 1):
            snapshot = _snapshot(Path(work) / DATABASE, class_id)
            manifest = _write(out, snapshot, class_id)
            if not manifest["missing"] or attempt == ATTEMPTS:
                break
    return {"archive": str(out), "bytes": out.stat().st_size, "seconds": round(time.monotonic() - started, 2),
            "scope": manifest["scope"], "class": class_id, "counts": manifest["counts"],
            "members": len(manifest["members"]), "missing": manifest["missing"]}


# ---- the store's copy ---------------------------------------------------------------------------------
def _snapshot(path: Path, class_id: str | None) -> Path:
    path.unlink(missing_ok=True)
    copy = sqlite3.connect(path, isolation_level=None)
    try:
        with db.reading() as source:
            source.backup(copy)  # all pages in one step: one read transaction, one consistent state
        copy.execute("PRAGMA foreign_keys = ON")
        copy.execute("BEGIN IMMEDIATE")
        leases.interrupt_running(copy)
        if class_id is not None:
            _only_class(copy, class_id)
        copy.execute("COMMIT")
        copy.execute("VACUUM")  # deleted rows leave no trace in the file
    finally:
        copy.close()
    return path


def _only_class(conn: sqlite3.Connection, class_id: str) -> None:
    """Each room removes, in the copy, its rows that are not this class's."""
    audience = classes.audience(class_id)
    students = classes.keep_only(conn, class_id)
    store.keep_only(conn, students)
    drafts.keep_only(conn, students)
    admission.keep_only(conn, audience)
    held_out = holdouts.keep_only(conn, audience)
    pins.keep_only(conn, students)
    datasets.keep_only(conn, students, audience, held_out)
    quotas.keep_only(conn, audience)


# ---- the archive --------------------------------------------------------------------------------------
def _members(snapshot: Path) -> list[tuple[str, Path]]:
    """(name in the archive, file) for every content file the copy's rows reference and every run file."""
    with contextlib.closing(sqlite3.connect(f"{snapshot.as_uri()}?mode=ro", uri=True)) as conn:
        shas = datasets.every_sha(conn) | pins.every_sha(conn) | cleaner.every_awaiting_undo(conn)
        run_ids = store.run_ids(conn)
    found = [(f"images/{sha[:2]}/{sha}", content.image_path(sha)) for sha in sorted(shas)]
    for run_id in run_ids:
        folder = run_dir(run_id)
        files = sorted((p for p in folder.rglob("*") if p.is_file() and not p.name.endswith(".tmp")),
                       key=lambda p: (p.name not in FIRST, str(p)))
        found += [(f"runs/{run_id}/{p.relative_to(folder).as_posix()}", p) for p in files]
    return found


def _write(out: Path, snapshot: Path, class_id: str | None) -> dict:
    part = out.with_name(out.name + ".part")
    listed, missing = {}, []
    try:
        with tarfile.open(part, "w") as tar:
            for name, path in [(DATABASE, snapshot), *_members(snapshot)]:
                added = _add(tar, name, path)
                if added is None:
                    missing.append(name)
                else:
                    listed[name] = added
            manifest = _manifest(snapshot, class_id, listed, missing)
            _add_bytes(tar, MANIFEST, json.dumps(manifest, indent=1).encode())
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    return manifest


def _add(tar: tarfile.TarFile, name: str, path: Path) -> dict | None:
    """Add one file, hashing it as it goes; None when it is gone."""
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        return None
    with fh:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = os.fstat(fh.fileno()).st_size, int(time.time()), 0o644
        hashing = _Hashing(fh)
        tar.addfile(info, hashing)
    return {"sha256": hashing.digest.hexdigest(), "bytes": info.size}


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
    tar.addfile(info, io.BytesIO(data))


class _Hashing:
    """A file object that hashes what is read from it (the archive gets each byte once)."""

    def __init__(self, fh):
        self.fh, self.digest = fh, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self.fh.read(size)
        self.digest.update(chunk)
        return chunk


def _manifest(snapshot: Path, class_id: str | None, listed: dict, missing: list[str]) -> dict:
    with contextlib.closing(sqlite3.connect(f"{snapshot.as_uri()}?mode=ro", uri=True)) as conn:
        counts = {**datasets.counts(conn), "runs": len(store.run_ids(conn)), "classes": classes.count(conn),
                  "image_files": sum(name.startswith("images/") for name in listed),
                  "run_files": sum(name.startswith("runs/") for name in listed)}
        schema = db.version(conn)
    now = time.time()
    return {"format": FORMAT, "version": VERSION, "schema_version": schema, "created_unix": now,
            "created": datetime.datetime.fromtimestamp(now, datetime.timezone.utc).isoformat(timespec="seconds"),
            "scope": "class" if class_id else "home", "class": class_id, "counts": counts,
            "bytes": sum(m["bytes"] for m in listed.values()), "members": listed, "missing": missing}
