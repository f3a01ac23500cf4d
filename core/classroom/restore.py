"""`python -m core restore FILE`: a backup (`backup`) unpacked into an empty data home.

Every member is checked against the manifest (name, size, SHA-256) while it is unpacked into a staging
folder inside the data home, and the store's copy must pass `PRAGMA integrity_check`, before anything is
put in place: a damaged archive (one flipped byte) is refused, naming the member, and leaves the home as
it was. Then the store, the images and the runs' folders are moved in by rename. A home that already
holds datasets, runs or classes is refused unless forced (then they are replaced), and so is a home a
worker is serving (stop it first).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from core import db
from core.classroom import backup, classes
from core.data import store as datasets
from core.errors import UserError
from core.execute import service
from core.paths import data_home
from core.runs import store

PLACED = (backup.DATABASE, "images", "runs")  # what a restore puts in the data home
CHUNK = 1 << 20


def restore(archive: str | os.PathLike, force: bool = False) -> dict:
    home, archive = data_home(), Path(archive).expanduser()
    _check_home(home, force)
    try:
        tar = tarfile.open(archive, "r:")
    except (OSError, tarfile.TarError) as exc:
        raise UserError(f"{archive}: not a TransferLab backup that can be read ({exc})") from None
    with tar, _staging(home) as staging:
        manifest = _manifest(tar, archive)
        _unpack(tar, manifest, staging, archive)
        _check_store(staging / backup.DATABASE, archive)
        _place(home, staging)
    db.replaced()
    return {"home": str(home), "archive": str(archive), "scope": manifest["scope"], "class": manifest["class"],
            "created": manifest["created"], "counts": manifest["counts"], "members": len(manifest["members"])}


def _check_home(home: Path, force: bool) -> None:
    if service.serving_pid():
        raise UserError(f"a worker is serving {home}: stop it (and the app) before restoring into this data home")
    if force or _empty(home):
        return
    raise UserError(f"{home} already holds datasets, runs or classes: restore into an empty data home (set "
                    "TRANSFERLAB_HOME to a new folder), or add --force to replace what is there")


def _empty(home: Path) -> bool:
    """No datasets, runs or classes in the store, and no image or run files."""
    files = any(any((home / folder).iterdir()) for folder in ("images", "runs") if (home / folder).is_dir())
    if files:
        return False
    if not (home / backup.DATABASE).exists():
        return True
    with db.reading() as conn:
        counts = datasets.counts(conn)
        return not (counts["datasets"] or store.run_ids(conn) or classes.count(conn))


@contextlib.contextmanager
def _staging(home: Path):
    """A folder inside the data home (renames from it are atomic), removed whatever happens."""
    folder = Path(tempfile.mkdtemp(dir=home, prefix=".restore-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _manifest(tar: tarfile.TarFile, archive: Path) -> dict:
    try:
        found = json.loads(tar.extractfile(backup.MANIFEST).read())
    except (KeyError, AttributeError, ValueError, tarfile.TarError, OSError) as exc:
        raise UserError(f"{archive}: no readable {backup.MANIFEST} ({exc}): not a TransferLab backup, or damaged") \
            from None
    if found.get("format") != backup.FORMAT or not isinstance(found.get("members"), dict):
        raise UserError(f"{archive}: not a TransferLab backup (its manifest says format {found.get('format')!r})")
    if found.get("version", 0) > backup.VERSION or found.get("schema_version", 0) > db.VERSION:
        raise UserError(f"{archive} was made by a newer TransferLab (backup format {found.get('version')}, "
                        f"store version {found.get('schema_version')}): update TransferLab to restore it")
    return found


def _unpack(tar: tarfile.TarFile, manifest: dict, staging: Path, archive: Path) -> None:
    """Every member listed, each one whole and as the manifest says, and nothing else."""
    expected, seen = manifest["members"], set()
    for member in tar:
        if member.name == backup.MANIFEST:
            continue
        if member.name not in expected or not member.isfile() or not _safe(member.name):
            raise UserError(f"{archive}: member {member.name!r} is not in the backup's manifest: refused, nothing "
                            "was restored")
        _extract(tar, member, staging / member.name, expected[member.name], archive)
        seen.add(member.name)
    absent = sorted(set(expected) - seen)
    if absent:
        raise UserError(f"{archive}: {len(absent)} file(s) of the manifest are missing, first {absent[0]}: the "
                        "archive is incomplete; nothing was restored")


def _safe(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return bool(parts) and not name.startswith("/") and ".." not in parts and parts[0] in PLACED


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path, expected: dict, archive: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    source = tar.extractfile(member)
    with open(target, "wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
    if size != expected["bytes"] or digest.hexdigest() != expected["sha256"]:
        raise UserError(f"{archive}: {member.name} does not match its checksum in the manifest (the archive is "
                        "damaged); nothing was restored")


def _check_store(path: Path, archive: Path) -> None:
    with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
        verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
    if verdict != "ok":
        raise UserError(f"{archive}: the store in it fails its integrity check ({verdict}); nothing was restored")


def _place(home: Path, staging: Path) -> None:
    """What is there goes (forced, or empty), then the staged store, images and runs are renamed in."""
    for suffix in ("", "-wal", "-shm"):
        (home / f"{backup.DATABASE}{suffix}").unlink(missing_ok=True)
    for folder in ("images", "runs"):
        shutil.rmtree(home / folder, ignore_errors=True)
        (staging / folder).mkdir(exist_ok=True)
        (staging / folder).replace(home / folder)
    (staging / backup.DATABASE).replace(home / backup.DATABASE)
