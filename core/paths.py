"""Process-level facts: where TransferLab keeps its data (one folder, the data home; nothing else is
needed), where a run's files live, which owner a headless process acts for, and whether the outside
network is reachable (it decides where pretrained weights and online samples come from)."""
from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path

from core.errors import UserError

DEFAULT_HOME = ".transferlab"
RUN_ID = re.compile(r"^[0-9a-f]{12}$")  # uuid4().hex[:12]: the only shape a run id has
PROBE_HOSTS = ("download.pytorch.org", "huggingface.co")
_online_cache: dict[str, tuple[float, bool]] = {}


def data_home() -> Path:
    """`$TRANSFERLAB_HOME`, else `./.transferlab`; created on first use."""
    home = Path(os.environ.get("TRANSFERLAB_HOME") or DEFAULT_HOME).expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


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
