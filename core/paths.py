"""Process-level facts: where TransferLab keeps its data (one folder, the data home; nothing else is
needed), where a run's files live, which owner a headless process acts for, and whether the outside
network is reachable (it decides where pretrained weights and online samples come from), and how
much room the data home's disk has left, with resource trouble said in words a person can act on."""
from __future__ import annotations

import os
import re
import shutil
import socket
import time
from pathlib import Path

from core import errors, words
from core.errors import ResourceError, UserError

DEFAULT_HOME = ".transferlab"
RUN_ID = re.compile(r"^[0-9a-f]{12}$")  # uuid4().hex[:12]: the only shape a run id has
PROBE_HOSTS = ("download.pytorch.org", "huggingface.co")
_online_cache: dict[str, tuple[float, bool]] = {}


def data_home() -> Path:
    """`$TRANSFERLAB_HOME`, else `./.transferlab`; created on first use."""
    home = home_path()
    home.mkdir(parents=True, exist_ok=True)
    return home


def home_path() -> Path:
    """The data home's path without creating it (on a broken disk, creating is what fails)."""
    return Path(os.environ.get("TRANSFERLAB_HOME") or DEFAULT_HOME).expanduser().resolve()


def subdir(name: str) -> Path:
    path = data_home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def env_owner() -> str:
    """The owner token a headless process (CLI, tests) acts for: $TRANSFERLAB_OWNER, else 'cli'.
    The app never uses it: every page passes the browser's own token."""
    return os.environ.get("TRANSFERLAB_OWNER") or "cli"


def check_run_id(run_id: str) -> str:
    """A run id is validated before it becomes part of a path: never `..`, `/` or anything else."""
    if not isinstance(run_id, str) or not RUN_ID.match(run_id):
        raise UserError(f"{run_id!r} is not a run id (12 hexadecimal characters)")
    return run_id


def run_dir(run_id: str) -> Path:
    return subdir("runs") / check_run_id(run_id)


def online(host: str = PROBE_HOSTS[0], ttl: float = 60.0) -> bool:
    """Can this process reach `host`? `TRANSFERLAB_OFFLINE=1` says no without asking."""
    forced = os.environ.get("TRANSFERLAB_OFFLINE")
    if forced is not None:
        return forced.strip().lower() in ("0", "false", "no")
    now = time.monotonic()
    if host in _online_cache and now - _online_cache[host][0] < ttl:
        return _online_cache[host][1]
    try:
        with socket.create_connection((host, 443), timeout=1.5):
            reachable = True
    except OSError:
        reachable = False
    _online_cache[host] = (now, reachable)
    return reachable


# ---- room on the data home's disk, and resource trouble in words ----------------------------------------
NEARLY_FULL = 2 ** 20  # below 1 MB free, SQLite's vague "disk I/O error" is the disk being full


def disk_room(where: str | os.PathLike | None = None) -> tuple[int, int]:
    """(free bytes, total bytes) of the disk holding `where` (default: the data home), measured at its
    nearest existing folder; (0, 0) when nothing can be measured."""
    path = Path(where) if where else home_path()
    for folder in (path, *path.parents):
        if folder.exists():
            try:
                usage = shutil.disk_usage(folder)
            except OSError:
                return 0, 0
            return usage.free, usage.total
    return 0, 0


def free_bytes(where: str | os.PathLike | None = None) -> int:
    return disk_room(where)[0]


def resource_error(error: BaseException) -> ResourceError | None:
    """`error` as a message a person can act on (what, where, how much is free, what to do) when it is
    about the server's resources (a full disk, a read-only or missing data home, a locked store, memory);
    None when it is something else. A permission error on a file outside the data home (one a person
    named) is their input's problem, not the server's: None."""
    if isinstance(error, ResourceError):
        return error
    kind = errors.resource_kind(error)
    where = Path(getattr(error, "filename", None) or home_path())
    if kind == errors.READ_ONLY and isinstance(error, OSError) and not _inside_home(where):
        return None
    if kind is None:
        return None
    free, total = disk_room(where)
    if kind == errors.IO and free < NEARLY_FULL:
        kind = errors.DISK_FULL
    unwritable = _unwritable(where)
    if unwritable and kind in (errors.IO, errors.UNOPENABLE, errors.READ_ONLY):  # SQLite says it vaguely
        kind = errors.READ_ONLY
    return ResourceError(_SAID[kind].format(where=_folder(where), free=words.size(free), total=words.size(total),
                                            db=home_path() / "transferlab.db", detail=unwritable or _detail(error)))


def _unwritable(where: Path) -> str | None:
    """Why the folder holding `where` cannot be written (a read-only disk, no permission), or None."""
    folder = next((f for f in (where, *where.parents) if f.is_dir()), None)
    if folder is None:
        return None
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "the disk is mounted read-only"
    except OSError:
        return None
    return None if os.access(folder, os.W_OK) else "no permission to write there"


def _inside_home(path: Path) -> bool:
    home = home_path()
    return path.resolve() == home or home in path.resolve().parents


def _folder(path: Path) -> Path:
    return path if path.is_dir() or not path.suffix else path.parent


def _detail(error: BaseException) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__


_SAID = {
    errors.DISK_FULL: "The disk holding {where} is full: {free} free of {total}. Nothing was half-written. Free some "
                      "space (delete runs or datasets nobody needs, or move TRANSFERLAB_HOME to a larger disk), then "
                      "try again; everything already stored can still be read.",
    errors.READ_ONLY: "{where} cannot be written ({detail}); {free} free there. Reading still works. Make the data "
                      "home writable for the user running TransferLab (or point TRANSFERLAB_HOME at a writable "
                      "folder), then try again.",
    errors.LOCKED: "The store {db} stayed busy for over 30 s (another process held it). Try again in a minute; if "
                   "it keeps happening, look for a stuck TransferLab process.",
    errors.UNOPENABLE: "The store {db} cannot be opened: the data home is missing, moved or not accessible ({free} "
                       "free of {total} there). Check TRANSFERLAB_HOME and its permissions, then try again.",
    errors.MEMORY: "The server ran out of memory doing this. Try fewer or smaller images at once, a smaller batch "
                   "size or backbone, or ask whoever runs the server for more memory.",
    errors.IO: "The disk holding {where} could not be read or written ({detail}); {free} free of {total}. Check the "
               "disk (the system log says more), then try again.",
}
