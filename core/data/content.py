"""Image bytes by content hash under the data home (`images/<hash[:2]>/<hash>`): written once, read
by anyone who holds the hash, and removed only when no dataset and no run's pinned list uses them."""
from __future__ import annotations

import os
from pathlib import Path

from core import db
from core.paths import subdir


def image_path(sha: str) -> Path:
    return subdir("images") / sha[:2] / sha


def write(sha: str, data: bytes) -> None:
    """Atomic: a crash never leaves half a file under the final name."""
    path = image_path(sha)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{sha}.{os.getpid()}.part")
    tmp.write_bytes(data)
    tmp.replace(path)


def read_bytes(sha: str) -> bytes:
    return image_path(sha).read_bytes()


def collect(candidates: set[str]) -> int:
    """Remove the files among `candidates` that no dataset image, no pinned run list and no undoable
    deletion references (reference counting in the content store). Returns how many files went."""
    if not candidates:
        return 0
    marks = ",".join("?" * len(candidates))
    with db.reading() as conn:
        used = {r[0] for r in conn.execute(f"SELECT sha256 FROM images WHERE sha256 IN ({marks})", list(candidates))}
        used |= {r[0] for r in conn.execute(f"SELECT sha256 FROM pinned_images WHERE sha256 IN ({marks})",
                                             list(candidates))}
        if db.columns(conn, "image_edits"):  # a deleted image keeps its bytes while its undo is possible
            used |= {r[0] for r in conn.execute(f"""SELECT sha256 FROM image_edits WHERE action = 'delete' AND
                                                    undone IS NULL AND sha256 IN ({marks})""", list(candidates))}
    gone = candidates - used
    for sha in gone:
        image_path(sha).unlink(missing_ok=True)
    return len(gone)
