"""Image bytes by content hash under the data home (`images/<hash[:2]>/<hash>`): written once, read
by anyone who holds the hash. Which hashes are still used is not known here: `removal` asks the
rooms that hold them (datasets, runs' pinned lists, undoable deletions) before removing a file."""
from __future__ import annotations

import os
from pathlib import Path

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
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except BaseException:  # a full disk: no partial file stays behind, holding the room
        tmp.unlink(missing_ok=True)
        raise


def read_bytes(sha: str) -> bytes:
    return image_path(sha).read_bytes()


def remove(shas: set[str]) -> None:
    for sha in shas:
        image_path(sha).unlink(missing_ok=True)
