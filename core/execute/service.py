"""The data home's worker as a service: exactly one per data home, started on demand, seen through
its slots' heartbeats.

The worker (the supervisor, or the Ray dispatcher) holds an OS file lock (`fcntl.flock` on
`<home>/worker.lock`) for its whole life, so a second one refuses to start, and `ensure_worker`
checks and starts under a second lock (`<home>/ensure.lock`), so browsers pressing Start in the
same second start one worker, not several. The kernel drops a dead process's locks: no stale state.
Each slot writes a heartbeat row (`Heartbeat`); the pages list the live ones (`alive_workers`).
Which process holds which job is `runs.leases`'.
"""
from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from core import db
from core.errors import UserError
from core.paths import data_home
from core.runs.leases import pid_alive

log = logging.getLogger("transferlab.worker")
HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 15.0
START_TIMEOUT = 60.0
ACQUIRE_SECONDS = 1.0


# ---- the one worker per data home -----------------------------------------------------------------
def lock_path() -> Path:
    return data_home() / "worker.lock"


class WorkerLock:
    """Held by the serving worker for its lifetime; the file names the holder's pid."""

    def __init__(self):
        self.fh = open(lock_path(), "a+")

    def acquire(self) -> None:
        if not self._try(ACQUIRE_SECONDS):
            self.fh.close()
            raise UserError(f"another worker (pid {serving_pid() or '?'}) already serves {data_home()}; "
                            "it runs every queued job, so there is nothing for a second one to do")
        self.fh.seek(0)
        self.fh.truncate()
        self.fh.write(str(os.getpid()))
        self.fh.flush()

    def _try(self, seconds: float) -> bool:
        """A probe (`serving_pid`) holds the lock shared for microseconds; a worker holds it for good.
        Retrying for a moment tells the two apart."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.02)

    def release(self) -> None:
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def serving_pid() -> int | None:
    """The pid of the worker that holds the data home's lock, or None when nobody does."""
    with open(lock_path(), "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            text = fh.read().strip()
            return int(text) if text.isdigit() else -1
        fcntl.flock(fh, fcntl.LOCK_UN)
        return None


@contextmanager
def _starting():
    with open(data_home() / "ensure.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # blocking: the second caller waits and then finds the first's worker
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_worker(args: tuple[str, ...] = ()) -> int:
    """The pid of the data home's worker, starting one (detached, logging to the data home) if none is."""
    with _starting():
        pid = serving_pid()
        if pid:
            return pid
        return _start(args)


def _start(args: tuple[str, ...]) -> int:
    log = open(data_home() / "worker.log", "ab")
    process = subprocess.Popen([sys.executable, "-m", "core", "worker", *args], stdout=log, stderr=log,
                               stdin=subprocess.DEVNULL, start_new_session=True, env=os.environ.copy(),
                               cwd=Path(__file__).resolve().parents[2])
    deadline = time.time() + START_TIMEOUT
    while time.time() < deadline:
        if serving_pid():
            return process.pid
        if process.poll() is not None:
            raise UserError(f"the worker exited at once (code {process.returncode}); see {data_home() / 'worker.log'}")
        time.sleep(0.05)
    raise UserError(f"the worker did not start within {START_TIMEOUT:.0f} s; see {data_home() / 'worker.log'}")


# ---- heartbeats (what the pages show about workers) -----------------------------------------------
class Heartbeat:
    """This process's row in `workers`, refreshed every HEARTBEAT_SECONDS with the job it runs
    (`job_id`) until `stop`."""

    def __init__(self, pid: int | None = None):
        self.pid, self.job_id, self.stopping = pid or os.getpid(), None, False

    def start(self) -> None:
        with db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO workers (pid, started, heartbeat) VALUES (?, ?, ?)",
                         (self.pid, time.time(), time.time()))
        threading.Thread(target=self._beat, daemon=True).start()

    def stop(self) -> None:
        self.stopping = True
        with db.transaction() as conn:
            conn.execute("DELETE FROM workers WHERE pid = ?", (self.pid,))

    def _beat(self) -> None:
        while not self.stopping:
            try:
                with db.transaction() as conn:
                    conn.execute("UPDATE workers SET heartbeat = ?, job_id = ? WHERE pid = ?",
                                 (time.time(), self.job_id, self.pid))
            except Exception:  # a busy database must not kill the heartbeat
                log.exception("heartbeat failed")
            time.sleep(HEARTBEAT_SECONDS)


def alive_workers() -> list[dict]:
    with db.reading() as conn:
        rows = [dict(r) for r in conn.execute("SELECT * FROM workers")]
    return [r for r in rows if time.time() - r["heartbeat"] < STALE_SECONDS and pid_alive(r["pid"])]
